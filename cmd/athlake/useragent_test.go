package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/athlake/athlake/sandbox"
)

// TestUserAgentIsTheBinarysVersion: the vendors see in User-Agent the
// version athlake version prints, the stamped one. (Not parallel: it
// stamps the package's version.)
func TestUserAgentIsTheBinarysVersion(t *testing.T) {
	version = "9.8.7-test"
	t.Cleanup(func() { version = "" })
	var mu sync.Mutex
	agents := map[string]int{}
	sb := sandbox.New(sandbox.Options{Seed: 3})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents[r.UserAgent()]++
		mu.Unlock()
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg, _, env := sandboxConfig(t, t.TempDir(), srv.URL)
	if code, _, stderr := runCLI(t, env, "sync", "--config", cfg); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, stderr)
	}
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "athlake 9.8.7-test\n") {
		t.Errorf("athlake version: exit %d\n%s", code, out)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "athlake/9.8.7-test (+https://github.com/athlake/athlake)"
	if len(agents) != 1 || agents[want] == 0 {
		t.Errorf("User-Agents the sandbox saw: %v, want only %q", agents, want)
	}
}
