package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/athlake/athlake/sandbox"
)

// TestMain doubles as the athlake binary: with ATHLAKE_TEST_AS_BINARY set,
// the test binary runs main itself (its signal handling and os.Exit
// included) on the arguments after "--". With ATHLAKE_TEST_AS_SANDBOX set
// to a scale, it is BenchmarkPeakRSS's sandbox.
func TestMain(m *testing.M) {
	if os.Getenv("ATHLAKE_TEST_AS_BINARY") != "" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"athlake"}, os.Args[i+1:]...)
				break
			}
		}
		if p := os.Getenv("ATHLAKE_TEST_HEAP_PROFILE"); p != "" {
			go profilePeakHeap(p)
		}
		if p := os.Getenv("ATHLAKE_TEST_RSS_SAMPLE"); p != "" {
			go sampleRSS(p)
		}
		main()
		return // main exits
	}
	if scale := os.Getenv("ATHLAKE_TEST_AS_SANDBOX"); scale != "" {
		if err := serveSandbox(scale); err != nil {
			fmt.Fprintln(os.Stderr, "sandbox:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// binary runs athlake as a process and returns its exit status and output.
func binary(t *testing.T, signal time.Duration, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "ATHLAKE_TEST_AS_BINARY=1", "SANDBOX_KEY="+sandbox.PlyomatKey, "SANDBOX_OP_TOKEN="+sandbox.OptimoAdminToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if signal > 0 {
		time.AfterFunc(signal, func() { cmd.Process.Signal(syscall.SIGTERM) })
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// The exit codes PRODUCT.md promises, from the real process: 0 done, 1
// failed, 2 bad usage or configuration (naming the key), 75 stopped early
// with the state saved; never a stack trace.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{Seed: 3})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	slow := httptest.NewServer(sandbox.New(sandbox.Options{Seed: 3, Latency: 250 * time.Millisecond}))
	t.Cleanup(slow.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error": {"code": "bad_request", "message": "no"}}`, http.StatusBadRequest)
	}))
	t.Cleanup(bad.Close)
	dir := t.TempDir()
	config := func(name, sources string) string {
		p := filepath.Join(dir, name+".yaml")
		body := fmt.Sprintf("output: %s\nsources:\n%s", filepath.Join(dir, name), sources)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plyomat := fmt.Sprintf("  plyomat:\n    base_url: %s%s\n    api_key: ${SANDBOX_KEY}\n", srv.URL, sandbox.PlyomatPrefix)
	for _, c := range []struct {
		name   string
		args   []string
		signal time.Duration
		code   int
		want   string
	}{
		{"usage", []string{"frobnicate"}, 0, 2, `unknown command "frobnicate"`},
		{"done", []string{"sync", "--config", config("ok", plyomat)}, 0, 0, "plyomat_reps"},
		{"refused key", []string{"sync", "--config", config("key", strings.Replace(plyomat, "${SANDBOX_KEY}", "pk_wrong", 1))}, 0, 2, "sources.plyomat.api_key"},
		{"vendor refuses a request", []string{"sync", "--config", config("bad", "  plyomat:\n    base_url: "+bad.URL+"/v1\n    api_key: k\n")}, 0, 1, "HTTP 400"},
		{"terminated", []string{"sync", "--config", config("term", strings.Replace(plyomat, srv.URL, slow.URL, 1))}, time.Second, 75, "interrupted"},
		{"quota", []string{"sync", "--config", config("quota", fmt.Sprintf("  optimo:\n    base_url: %s%s\n    token: ${SANDBOX_OP_TOKEN}\n    daily_request_budget: 3\n", srv.URL, sandbox.OptimoPath))}, 0, 75, "budget"},
	} {
		code, out := binary(t, c.signal, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: athlake %s: exit %d, want %d mentioning %q:\n%s", c.name, strings.Join(c.args, " "), code, c.code, c.want, out)
		}
		if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") || strings.Contains(out, sandbox.PlyomatKey) {
			t.Errorf("%s: a stack trace or a secret in the output:\n%s", c.name, out)
		}
	}
}
