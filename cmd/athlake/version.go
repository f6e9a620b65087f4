package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/athlake/athlake/jobs"
)

// version and commit are stamped by scripts/release-build (the
// Dockerfile's build) with -ldflags "-X main.version=... -X main.commit=...".
var version, commit string

// buildVersion is the version and commit athlake was built from: the
// stamped ones, else jobs.Version and the commit the Go toolchain recorded
// (vcs.revision, "-dirty" for a modified work tree), else "unknown".
func buildVersion(info *debug.BuildInfo) (string, string) {
	v, c := cmp.Or(version, jobs.Version), commit
	if c == "" && info != nil {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" && modified == "true" {
			rev += "-dirty"
		}
		c = rev
	}
	return v, cmp.Or(c, "unknown")
}

// binaryVersion is the version athlake reports, and sends in User-Agent
// headers.
func binaryVersion() string {
	info, _ := debug.ReadBuildInfo()
	v, _ := buildVersion(info)
	return v
}

func runVersion(_ context.Context, c *command) error {
	if err := c.parse(); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	v, rev := buildVersion(info)
	_, err := fmt.Fprintf(c.stdout, "athlake %s\ncommit %s\n%s %s/%s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
