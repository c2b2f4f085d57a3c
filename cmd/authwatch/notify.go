package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/report"
	"github.com/authwatch/authwatch/notify"
)

// cmdNotify is `authwatch notify test ROUTE`: a clearly marked test page
// through every notifier of a route, sent directly (not via the outbox) so
// the answer of each receiver is shown.
func cmdNotify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("notify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: authwatch notify test ROUTE [--config FILE]\n\nSends a clearly marked test notification through every notifier of the route.")
		fs.PrintDefaults()
	}
	if len(args) < 2 || args[0] != "test" {
		fs.Usage()
		return exitInvalid
	}
	route := args[1]
	if err := fs.Parse(args[2:]); err != nil {
		return exitInvalid
	}
	cfg, err := config.Load(*cfgPath, true)
	var problems flows.Problems
	switch {
	case errors.As(err, &problems):
		report.Problems(stderr, problems, nil)
		return exitInvalid
	case err != nil:
		fmt.Fprintf(stderr, "authwatch notify: %v\n", err)
		return exitInvalid
	}
	var names []string
	for _, r := range cfg.Routes {
		if r.Name == route {
			names = r.Notifiers
		}
	}
	if names == nil {
		fmt.Fprintf(stderr, "authwatch notify: no route named %q in %s\n", route, *cfgPath)
		return exitInvalid
	}
	notifiers, err := cfg.NewNotifiers(notify.Deps{HTTP: &http.Client{Timeout: 30 * time.Second}, Now: time.Now})
	if err != nil {
		fmt.Fprintf(stderr, "authwatch notify: %v\n", err)
		return exitInvalid
	}
	return sendTest(ctx, route, names, notifiers, stdout)
}

func sendTest(ctx context.Context, route string, names []string, notifiers map[string]notify.Notifier, stdout io.Writer) int {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	ev := notify.Event{ID: randomID(), IncidentKey: fmt.Sprintf("authwatch/test/%d", now.Unix()), Type: notify.Test,
		Severity: notify.SeverityInfo, Time: now, Flow: "authwatch-notify-test", Host: host,
		Summary:  fmt.Sprintf("This is a test notification sent by `authwatch notify test %s` on %s. No action is needed.", route, host),
		NextStep: "Nothing to do: this only checks that notifications reach you."}
	code := exitOK
	for _, name := range names {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		retry, err := notifiers[name].Notify(actx, ev)
		cancel()
		if err != nil {
			fmt.Fprintf(stdout, "%-20s FAILED: %v (retryable: %v)\n", name, err, retry)
			code = exitFailed
			continue
		}
		fmt.Fprintf(stdout, "%-20s delivered\n", name)
	}
	return code
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
