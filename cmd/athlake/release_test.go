package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/athlake/athlake/jobs"
)

// distrolessCC is what gcr.io/distroless/cc-debian12, the image's runtime
// base, provides to a dynamically linked binary: glibc's libraries,
// libstdc++ and libgcc_s (and the kernel's vDSO).
var distrolessCC = map[string]bool{
	"linux-vdso.so.1": true, "libc.so.6": true, "libm.so.6": true, "libpthread.so.0": true, "libdl.so.2": true,
	"librt.so.1": true, "libstdc++.so.6": true, "libgcc_s.so.1": true,
	"ld-linux-x86-64.so.2": true, "ld-linux-aarch64.so.1": true,
}

// TestReleaseBinary builds athlake as the Dockerfile does (the same
// script, so the same flags), then checks that the binary says the
// version and commit stamped into it, needs no shared library the
// runtime base lacks, and runs the demo in an empty environment, as in
// the image (no config, no credentials). scripts/test runs go test with
// -trimpath, like the release build, so the build here reuses the
// suite's compiled packages and only links (seconds, not the ~110 s of a
// cold build).
func TestReleaseBinary(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("ldd is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "athlake")
	build := exec.Command("../../scripts/release-build", bin)
	build.Env = append(os.Environ(), "VERSION=9.8.7-test", "COMMIT=0123456789abcdef0123456789abcdef01234567")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release-build: %v\n%s", err, out)
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	want := "athlake 9.8.7-test\ncommit 0123456789abcdef0123456789abcdef01234567\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if err != nil || string(out) != want {
		t.Errorf("athlake version: %v\n%s\nwant:\n%s", err, out, want)
	}

	out, err = exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd %s: %v\n%s", bin, err, out)
	}
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name := filepath.Base(strings.Fields(line)[0])
		libs = append(libs, name)
		if !distrolessCC[name] || strings.Contains(line, "not found") {
			t.Errorf("the release binary needs %s, which distroless cc does not provide (ldd: %q)", name, line)
		}
	}
	for _, need := range []string{"libc.so.6", "libstdc++.so.6"} { // DuckDB, through cgo
		if !strings.Contains(string(out), need) {
			t.Errorf("ldd lists no %s: is the binary still the cgo build with DuckDB?\n%s", need, out)
		}
	}
	t.Logf("the release binary needs %s", strings.Join(libs, ", "))

	// The demo, in an empty environment, as the image's user.
	home := t.TempDir()
	demo := exec.Command(bin, "demo", "--out", filepath.Join(home, "demo"), "--log-format", "json")
	demo.Env = []string{"HOME=" + home}
	demo.Dir = home
	if out, err := demo.CombinedOutput(); err != nil || !strings.Contains(string(out), "plyomat_reps") {
		t.Errorf("athlake demo from the release binary: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "demo", "athlake.duckdb")); err != nil {
		t.Errorf("the demo left no database: %v", err)
	}
}

// TestDockerfile: docker cannot build here, so check what the image is
// made of: the binary from scripts/release-build (so the flags tested
// above), a runtime base with glibc and libstdc++, a numeric non-root
// user, athlake as the entrypoint, and nothing else copied in.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // each stage's instructions, comments left out
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage:\n%s", len(stages), b)
	}
	build, final := strings.Join(stages[0], "\n"), stages[1]
	if !regexp.MustCompile(`(?m)^FROM golang:\S+-bookworm AS build$`).MatchString(build) {
		t.Errorf("the build stage is not Debian 12's Go image (the runtime base's glibc):\n%s", build)
	}
	if !regexp.MustCompile(`(?m)^RUN .*scripts/release-build /out/athlake$`).MatchString(build) {
		t.Errorf("the build stage does not build with scripts/release-build:\n%s", build)
	}
	want := []string{
		"FROM gcr.io/distroless/cc-debian12:nonroot",
		"COPY --from=build /out/athlake /usr/local/bin/athlake",
		"USER 65532:65532",
		"WORKDIR /home/nonroot",
		`ENTRYPOINT ["/usr/local/bin/athlake"]`,
		`CMD ["--help"]`,
	}
	if strings.Join(final, "\n") != strings.Join(want, "\n") {
		t.Errorf("the runtime stage:\n%s\nwant:\n%s", strings.Join(final, "\n"), strings.Join(want, "\n"))
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git", "**/testdata", "**/*.duckdb", "**/*.yaml", "**/*.json", "lake", "athlake-demo"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `$`).Match(ignore) {
			t.Errorf(".dockerignore does not leave out %s", p)
		}
	}
}

// TestVersion: athlake version says the stamped version and commit, else
// jobs.Version and the commit Go recorded, else "unknown".
func TestVersion(t *testing.T) {
	info := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		version, commit string
		info            *debug.BuildInfo
		wantV, wantC    string
	}{
		{"1.0.0", "abc", info("vcs.revision", "def"), "1.0.0", "abc"},
		{"", "", info("vcs.revision", "def", "vcs.modified", "false"), jobs.Version, "def"},
		{"", "", info("vcs.revision", "def", "vcs.modified", "true"), jobs.Version, "def-dirty"},
		{"", "", info(), jobs.Version, "unknown"},
		{"", "", nil, jobs.Version, "unknown"},
	} {
		version, commit = c.version, c.commit
		v, rev := buildVersion(c.info)
		if v != c.wantV || rev != c.wantC {
			t.Errorf("stamped %q %q, build info %v: %q %q, want %q %q", c.version, c.commit, c.info, v, rev, c.wantV, c.wantC)
		}
	}
	version, commit = "", ""
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "athlake "+jobs.Version+"\ncommit ") || !strings.HasSuffix(out, "\n"+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Errorf("athlake version: exit %d\n%s", code, out)
	}
}
