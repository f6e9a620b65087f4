package paging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/extract/internal/httpx"
)

// numbered is a page-numbered envelope (Team Pro's shape).
type numbered struct {
	Data  []json.RawMessage `json:"data"`
	Pages int               `json:"pages"`
	Total int               `json:"total"`
	Empty bool              `json:"empty"`
}

func (e *numbered) Rows() []json.RawMessage { return e.Data }
func (e *numbered) TotalRows() int          { return e.Total }
func (e *numbered) Check() error {
	if e.Empty && len(e.Data) > 0 {
		return errors.New("rows on an empty page")
	}
	return nil
}
func (e *numbered) Last(index int) (bool, error) { return index+1 >= e.Pages, nil }

// TestListPageNumbers: pages are asked by number from 0 until the envelope
// says the last, each handed over with its rows; a total that disagrees
// is an anomaly; an envelope Check rejects fails the list with the
// vendor and endpoint.
func TestListPageNumbers(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		fmt.Fprintf(w, `{"data":[{"n":%d},{"n":%d}],"pages":3,"total":7,"empty":%v}`, 2*page, 2*page+1, r.URL.Query().Get("bad") != "")
	}))
	defer srv.Close()
	h, err := httpx.New(httpx.Options{Source: "v", BaseURL: srv.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := Scheme{Source: "v", TotalName: "total", Query: func(q url.Values, index, offset int) {
		q.Set("page", strconv.Itoa(index))
		q.Set("seen", strconv.Itoa(offset))
	}}
	var rows []string
	anomalies, err := List[numbered](context.Background(), h, s, "/x", url.Values{"f": {"1"}}, func(p *Page) error {
		if p.ServerTime.IsZero() || p.Total != 7 {
			t.Errorf("page: ServerTime %v, Total %d", p.ServerTime, p.Total)
		}
		for _, r := range p.Records {
			rows = append(rows, string(r))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"n":5}`}, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"f=1&page=0&seen=0", "f=1&page=1&seen=2", "f=1&page=2&seen=4"}, queries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/x: received 6 rows in all, total says 7"}, anomalies); diff != "" {
		t.Errorf("anomalies (-want +got):\n%s", diff)
	}

	called := false
	_, err = List[numbered](context.Background(), h, s, "/x", url.Values{"bad": {"1"}}, func(*Page) error { called = true; return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "v GET /x?") || !strings.HasSuffix(err.Error(), ": rows on an empty page") || called {
		t.Errorf("rejected envelope: %v (handed over: %v)", err, called)
	}
}
