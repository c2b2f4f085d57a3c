// Package version says which authwatch this is: the release version stamped
// at build time, and what the Go toolchain recorded of the source (commit,
// commit time, uncommitted changes).
//
// Release builds stamp the version:
//
//	go build -ldflags "-X github.com/authwatch/authwatch/internal/version.Version=1.2.0" ./cmd/authwatch
//
// Every other build says "dev" and still knows its commit when built from a
// git checkout (go build records vcs.revision, vcs.time and vcs.modified).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Version is the release version, set with -ldflags -X at build time.
var Version = "dev"

// ProjectURL is where authwatch lives; probes name it in their User-Agent.
const ProjectURL = "https://github.com/authwatch/authwatch"

// Info is what a build knows of itself.
type Info struct {
	Version   string // "1.2.0" or "dev"
	Revision  string // the commit, or "unknown"
	Time      string // the commit's time (RFC 3339), or ""
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string
}

var (
	once sync.Once
	info Info
)

// Get returns the build's Info (read once).
func Get() Info {
	once.Do(func() {
		info = Info{Version: Version, Revision: "unknown", GoVersion: runtime.Version()}
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	})
	return info
}

// String is the one-line form: "authwatch 1.2.0 (commit 0123abc, 2026-12-06T15:20:00Z, go1.26.8)".
func (i Info) String() string {
	var parts []string
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if i.Modified {
		rev += "+modified"
	}
	parts = append(parts, "commit "+rev)
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	parts = append(parts, i.GoVersion)
	return fmt.Sprintf("authwatch %s (%s)", i.Version, strings.Join(parts, ", "))
}

// UserAgent is what authwatch's requests say they are:
// "authwatch/1.2.0 (+https://github.com/authwatch/authwatch)".
func UserAgent() string { return "authwatch/" + Get().Version + " (+" + ProjectURL + ")" }
