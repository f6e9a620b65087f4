package plyomat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/athlake/athlake/sandbox"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

// TestGetHostileIDs: every detail endpoint reaches the record whose id is
// hostile to paths and URLs, and only it.
func TestGetHostileIDs(t *testing.T) {
	t.Parallel()
	s := sbp.New(sbp.Options{Seed: 3, Scale: sandbox.ScaleSmall, APIKey: "k"})
	srv := httptest.NewServer(http.StripPrefix("/v1", s))
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL + "/v1", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range s.AddHostileIDs() {
		for _, res := range []string{"athletes", "groups", "devices", "sessions", "sets"} {
			rec, err := c.Get(context.Background(), res, id)
			if err != nil {
				t.Errorf("Get(%s, %q): %v", res, id, err)
				continue
			}
			var got struct{ ID string }
			if err := json.Unmarshal(rec, &got); err != nil || got.ID != id {
				t.Errorf("Get(%s, %q) = %s (%v)", res, id, rec, err)
			}
		}
	}
}
