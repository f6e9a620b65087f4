// Package webhook receives Plyomat webhook deliveries: it verifies their
// Stripe-style signatures, keeps each event once in a spool in the lake
// (local or S3) before acknowledging it, and lists the spool for the
// stream that applies the events with targeted pulls.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a delivery's signed timestamp may lie from
// the receiver's clock, either way (the vendor says 5 minutes).
const DefaultTolerance = 5 * time.Minute

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>"; more
// than one v1 may be present while the vendor rotates secrets.
const SignatureHeader = "X-Plyomat-Signature"

// Verification errors. Each is a refusal of the delivery.
var (
	ErrNoSignature  = errors.New("no " + SignatureHeader + " header")
	ErrMalformed    = errors.New("malformed " + SignatureHeader + " header")
	ErrBadSignature = errors.New("no v1 signature matches the body")
	ErrStale        = errors.New("signature timestamp is too old")
	ErrFuture       = errors.New("signature timestamp is in the future")
)

// Sign returns the v1 signature of body signed at t with secret: the hex
// HMAC-SHA256 of "<t>.<body>".
func Sign(secret []byte, t int64, body []byte) string {
	return hex.EncodeToString(mac(secret, t, body))
}

// mac is the HMAC-SHA256 of "<t>.<body>" under secret.
func mac(secret []byte, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Header returns the signature header of body signed at t with secret.
func Header(secret []byte, t int64, body []byte) string {
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + Sign(secret, t, body)
}

// Verify checks a signature header against the raw body: some v1 must be
// the HMAC of "<t>.<body>" under secret (compared in constant time), and t
// must lie within tolerance of now. It returns the signed time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) (time.Time, error) {
	if strings.TrimSpace(header) == "" {
		return time.Time{}, ErrNoSignature
	}
	var (
		ts     int64
		haveTS bool
		sigs   [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return time.Time{}, ErrMalformed
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS || n <= 0 {
				return time.Time{}, ErrMalformed
			}
			ts, haveTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				continue // not a signature this receiver can match
			}
			sigs = append(sigs, b)
		}
		// Other schemes (v0, future ones) are ignored, as Stripe does.
	}
	if !haveTS {
		return time.Time{}, ErrMalformed
	}
	if len(sigs) == 0 {
		return time.Time{}, ErrBadSignature
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		// Every candidate is compared, so the time taken does not say
		// which one (if any) matched.
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return time.Time{}, ErrBadSignature
	}
	signed := time.Unix(ts, 0).UTC()
	switch d := now.Sub(signed); {
	case d > tolerance:
		return signed, fmt.Errorf("%w: signed %s, %s ago (tolerance %s)", ErrStale, signed.Format(time.RFC3339), d.Round(time.Second), tolerance)
	case -d > tolerance:
		return signed, fmt.Errorf("%w: signed %s, %s ahead (tolerance %s)", ErrFuture, signed.Format(time.RFC3339), (-d).Round(time.Second), tolerance)
	}
	return signed, nil
}
