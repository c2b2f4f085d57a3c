// Command authwatch runs declarative authentication flows against identity
// providers and APIs and explains every failure with a reason code.
//
//	authwatch validate [PATH...]   lint flow files and the daemon's configuration
//	authwatch check [PATH...]      run every flow once, now
//	authwatch diagnose URL         troubleshoot one request, layer by layer
//	authwatch notify test ROUTE    send a test notification through a route
//	authwatch run                  run every flow on its schedule (the daemon)
//	authwatch demo                 run demo flows against an embedded IdP and API
//
// The command tree (cli.go) is also the source of the shell completions
// (`authwatch completion bash|zsh|fish`) and of the manual page
// (`authwatch man`), so neither can drift from the parser.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/authwatch/authwatch/internal/config"
	_ "github.com/authwatch/authwatch/notify/all" // registers every notifier kind
)

// Exit codes: all passed, a flow failed, the usage or configuration is
// invalid.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, installed, args, stdout, stderr)
}

// installed are the paths of a packaged install.
var installed = paths{config: config.DefaultPath, flowsDir: config.Default().FlowsDir}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
