// Command authwatch runs declarative authentication flows against identity
// providers and APIs and explains every failure with a reason code.
//
//	authwatch validate [PATH...]   lint flow files (default flows.d)
//	authwatch check [PATH...]      run every flow once, now
//	authwatch diagnose URL         troubleshoot one request, layer by layer
//	authwatch demo                 run demo flows against an embedded IdP and API
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	_ "github.com/authwatch/authwatch/notify/all" // registers every notifier kind
)

// Exit codes: all passed, a flow failed, the configuration is invalid.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand; it is main without the process, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitInvalid
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "notify":
		return cmdNotify(ctx, rest, stdout, stderr)
	case "diagnose":
		return cmdDiagnose(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "authwatch", version)
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "authwatch: unknown command %q\n\n", cmd)
	usage(stderr)
	return exitInvalid
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: authwatch COMMAND [flags] [PATH...]

Commands:
  validate [PATH...]   check flow files (default: flows.d) and report every problem with file:line:column
  check [PATH...]      run every flow once, now, and explain each failure (exit 0 all passed, 1 a flow failed, 2 invalid configuration)
  diagnose URL         troubleshoot one request layer by layer: DNS, TLS, challenge, token, clocks, CORS, redirects
  notify test ROUTE    send a clearly marked test notification through a route's notifiers
  run                  run every flow on its schedule as a daemon (metrics, reload on SIGHUP, systemd notify)
  demo                 start an embedded OpenID provider and API on 127.0.0.1 and run demo flows against them
  version              print the version

Run "authwatch COMMAND -h" for a command's flags.
`)
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
