package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/daemon"
	"github.com/authwatch/authwatch/internal/report"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file (optional at the default path)")
	flowsDir := fs.String("flows", "", "flows directory (overrides flows_dir)")
	stateDir := fs.String("state-dir", "", "state directory (overrides state_dir)")
	listen := fs.String("listen", "", "address of /metrics, /healthz, /readyz (overrides listen)")
	logLevel := fs.String("log-level", "info", "debug (every run), info (state changes), warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: authwatch run [flags]\n\nRuns every flow on its schedule until stopped. SIGHUP reloads the flows; an invalid\nset is rejected and the old flows keep running.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	explicit := isFlagSet(fs, "config")
	cfg, err := config.Load(*cfgPath, explicit)
	var problems flows.Problems
	switch {
	case errors.As(err, &problems):
		report.Problems(stderr, problems, nil)
		return exitInvalid
	case err != nil:
		fmt.Fprintf(stderr, "authwatch run: %v\n", err)
		return exitInvalid
	}
	override(&cfg.FlowsDir, *flowsDir)
	override(&cfg.StateDir, *stateDir)
	override(&cfg.Listen, *listen)
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch run: %v\n", err)
		return exitInvalid
	}
	reloadPath := ""
	if _, err := os.Stat(*cfgPath); err == nil {
		reloadPath = *cfgPath
	}
	return runDaemon(ctx, cfg, reloadPath, log, stderr)
}

func runDaemon(ctx context.Context, cfg *config.Config, cfgPath string, log *slog.Logger, stderr io.Writer) int {
	m, err := daemon.New(cfg, log, daemon.SystemdNotifier{})
	var field flows.FieldError
	switch {
	case errors.As(err, &field):
		// A setting that cannot work as given (listening beyond loopback
		// without status_page.auth): the configuration is invalid.
		fmt.Fprintf(stderr, "authwatch run: configuration: %v\n", err)
		return exitInvalid
	case err != nil:
		fmt.Fprintf(stderr, "authwatch run: %v\n", err)
		return exitFailed
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go enforceStopDeadline(ctx, stopped, stderr)
	m.SetConfigPath(cfgPath)
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	if cfg.WatchEnabled() {
		if err := daemon.WatchFlows(ctx, cfg.FlowsDir, reload); err != nil {
			log.Warn("not watching the flows directory; reload with SIGHUP", "err", err)
		}
	}
	if err := m.Run(ctx, reload); err != nil {
		var problems flows.Problems
		if errors.As(err, &problems) {
			report.Problems(stderr, problems, nil)
			return exitInvalid
		}
		fmt.Fprintf(stderr, "authwatch run: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// stopDeadline bounds a stop: systemd's TimeoutStopSec is 30 s, after which
// it kills the process anyway; exiting first says why in the journal.
const stopDeadline = daemon.StopGrace + 8*time.Second

// enforceStopDeadline exits the process when a stop signal was not followed
// by an exit within stopDeadline (a hung file system, a target that ignores
// its deadline): the store is crash-safe, a hung stop is not.
func enforceStopDeadline(ctx context.Context, stopped <-chan struct{}, stderr io.Writer) {
	select {
	case <-stopped:
		return
	case <-ctx.Done():
	}
	timer := time.NewTimer(stopDeadline)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		fmt.Fprintf(stderr, "authwatch run: stopping took longer than %s; exiting now\n", stopDeadline)
		os.Exit(exitFailed)
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func override(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
