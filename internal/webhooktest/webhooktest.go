// Package webhooktest helps tests that send Plyomat webhook deliveries.
package webhooktest

import (
	"bytes"
	"net/http"
	"time"

	"github.com/athlake/athlake/extract/plyomat/webhook"
)

// Request is a delivery of body to the receiver at url as the vendor
// sends it: a JSON POST signed with secret now. It panics if url is not
// a URL.
func Request(url string, secret, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Header(secret, time.Now().Unix(), body))
	return req
}
