// Package optimo is the client of the Optimo Sport API (XML over POST, a
// daily request quota) and the definition of its streams: list methods paged
// at 100 rows, read incrementally through updated_from where the method has
// it, every request counted against the account's daily budget before it is
// sent.
package optimo

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// Options configures a Client.
type Options struct {
	BaseURL     string // the account's endpoint, https://<account>.optimosport.com/api/2.1/xml-in
	Token       string
	UserAgent   string
	Budget      *Budget
	Timeout     time.Duration
	MaxAttempts int
	Backoff     time.Duration
	Transport   http.RoundTripper
	Log         *slog.Logger
}

// Client calls the Optimo Sport API.
type Client struct {
	h      *httpx.Client
	budget *Budget
}

// New returns a client. It makes no request.
func New(o Options) (*Client, error) {
	if o.Token == "" {
		return nil, errors.New("optimo: no token")
	}
	if o.Budget == nil {
		return nil, errors.New("optimo: no request budget")
	}
	token := o.Token
	h, err := httpx.New(httpx.Options{
		Source: "optimo", BaseURL: o.BaseURL, UserAgent: o.UserAgent,
		Timeout: o.Timeout, MaxAttempts: o.MaxAttempts, Backoff: o.Backoff,
		Transport: o.Transport, Log: o.Log,
		Validate: httpx.ValidXML("response", "request"),
		// Every attempt, retries included, spends the daily quota: the
		// budget is taken before each one.
		Limiter: o.Budget,
		// Optimo has no per-second limit: a 429 means the day's quota is
		// spent, and retrying would only spend more.
		FinalStatuses: []int{http.StatusTooManyRequests},
		Authorize: func(r *http.Request) error {
			r.SetBasicAuth(token, "X")
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &Client{h: h, budget: o.Budget}, nil
}

// Stats reports the requests made so far.
func (c *Client) Stats() pipeline.RequestStats { return c.h.Stats() }

// requestBody is the XML request of a method call.
func requestBody(method string, args []Arg) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<request method="`)
	xml.EscapeText(&b, []byte(method))
	b.WriteString(`">`)
	for _, a := range args {
		b.WriteString("<" + a.Name + ">")
		xml.EscapeText(&b, []byte(a.Value))
		b.WriteString("</" + a.Name + ">")
	}
	b.WriteString("</request>")
	return b.Bytes()
}

// List calls a list method for one page and converts its records with
// conv. A quota answer (fail response or HTTP 429) stops the run's requests
// and comes back as an ErrStopEarly (see Budget.Exhaust).
func (c *Client) List(ctx context.Context, method string, args []Arg, page int, conv *transform.XML) (*Page, error) {
	args = append(append([]Arg(nil), args...), Arg{"page", strconv.Itoa(page)}, Arg{"per_page", strconv.Itoa(PageSize)})
	done, err := c.budget.Probe(ctx)
	if err != nil {
		return nil, err
	}
	p, err := c.list(ctx, method, args, page, conv)
	var fail *FailError
	done(err == nil || errors.As(err, &fail)) // the vendor answered, and not with its quota
	if errors.Is(err, errQuota) {
		return nil, pipeline.StopEarly(fmt.Sprintf("optimo %s: the vendor says the account's daily request quota is spent; run again later (a run first tries one request)", method))
	}
	return p, err
}

// errQuota is a quota answer from the vendor.
var errQuota = errors.New("quota answer")

func (c *Client) list(ctx context.Context, method string, args []Arg, page int, conv *transform.XML) (*Page, error) {
	resp, err := c.h.PostXML(ctx, "", requestBody(method, args))
	if err != nil {
		var api *APIError
		if errors.As(err, &api) && api.Status == http.StatusTooManyRequests {
			c.budget.Exhaust(ctx)
			return nil, errQuota
		}
		// The transport names the one endpoint every call shares; the
		// method and page say which call failed.
		return nil, fmt.Errorf("%s page %d: %w", method, page, err)
	}
	p := &Page{Endpoint: endpoint(method, args), Body: resp.Body, Received: resp.Received, ServerTime: resp.ServerTime}
	if err := parseList(resp.Body, method, conv, p); err != nil {
		var fail *FailError
		if errors.As(err, &fail) && fail.quotaFail() {
			c.budget.Exhaust(ctx)
			return nil, errQuota
		}
		return nil, err
	}
	return p, nil
}

// endpoint names a call for lineage and raw responses: the method and its
// arguments, the values quoted (ids may hold any character).
func endpoint(method string, args []Arg) string {
	var b strings.Builder
	b.WriteString("POST " + method)
	for _, a := range args {
		if a.Name == "per_page" {
			continue
		}
		b.WriteString(" " + a.Name + "=" + strconv.Quote(a.Value))
	}
	return b.String()
}

// parseList reads a response: its root (response, or request as in the
// vendor's own sample) and status, then the list element's paging
// attributes and its records.
func parseList(body []byte, method string, conv *transform.XML, p *Page) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	var fail *FailError
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("optimo %s: decoding the response: %w", method, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				status := strings.Trim(attr(t, "status"), "[]") // the vendor's sample writes "[ok]"
				if status == "fail" {
					fail = &FailError{Method: method}
				} else if status != "ok" {
					return fmt.Errorf("optimo %s: response status %q", method, status)
				}
			case 2:
				if fail != nil {
					if t.Name.Local == "error" {
						var msg string
						if err := d.DecodeElement(&msg, &t); err != nil {
							return fmt.Errorf("optimo %s: decoding the error: %w", method, err)
						}
						fail.Messages = append(fail.Messages, strings.TrimSpace(msg))
						depth--
					}
					continue
				}
				p.Page, _ = strconv.Atoi(attr(t, "page"))
				p.Pages, _ = strconv.Atoi(attr(t, "pages"))
				p.Total, _ = strconv.Atoi(attr(t, "total"))
			case 3:
				if fail != nil {
					continue
				}
				rec, err := conv.Convert(d, t)
				if err != nil {
					return fmt.Errorf("optimo %s: decoding a record: %w", method, err)
				}
				p.Records = append(p.Records, rec)
				depth--
			}
		case xml.EndElement:
			depth--
		}
	}
	if fail != nil {
		return fail
	}
	return nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
