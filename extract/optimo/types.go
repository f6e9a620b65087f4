package optimo

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
)

// PageSize is the most rows a list method returns.
const PageSize = 100

// Arg is a method argument; arguments keep their order in the request.
type Arg struct{ Name, Value string }

// Page is one page of a list method, its records converted to JSON objects.
type Page struct {
	Records  []json.RawMessage
	Page     int
	Pages    int
	Total    int
	Endpoint string
	Body     []byte
	Received time.Time
	// ServerTime is the vendor's Date header (zero when absent).
	ServerTime time.Time
}

// FailError is a response with status="fail".
type FailError struct {
	Method   string
	Messages []string
}

func (e *FailError) Error() string {
	return fmt.Sprintf("optimo %s: the vendor answered fail: %s", e.Method, strings.Join(e.Messages, "; "))
}

// quotaFail tells a fail response about the request limit.
func (e *FailError) quotaFail() bool {
	for _, m := range e.Messages {
		m = strings.ToLower(m)
		if strings.Contains(m, "limit") && (strings.Contains(m, "request") || strings.Contains(m, "exceeded")) {
			return true
		}
	}
	return false
}

// APIError is an HTTP error response of the API (a vendor's fail answer
// comes with status 200 and is a *FailError).
type APIError = httpx.APIError
