package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/daemon"
	"github.com/authwatch/authwatch/internal/report"
)

// runOptions are run's flags; empty ones leave the configuration's value.
type runOptions struct {
	config, flowsDir, stateDir, listen, logLevel string
	explicitConfig                               bool
}

func newRunCommand(p paths) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run every flow on its schedule as a daemon (metrics, reload on SIGHUP, systemd notify)",
		Long: "Runs every flow on its schedule until stopped. SIGHUP reloads the flows and the configuration;\n" +
			"an invalid set is rejected and the old one keeps running. Exit status: 0 stopped, 1 failed\n" +
			"while running, 2 the configuration or a flag is invalid.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.explicitConfig = cmd.Flags().Changed("config")
			return exit(cmdRun(cmd.Context(), o, cmd.ErrOrStderr()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", p.config, "configuration file; optional at the default path")
	f.StringVar(&o.flowsDir, "flows", "", "flows directory (overrides flows_dir)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory (overrides state_dir)")
	f.StringVar(&o.listen, "listen", "", "address of the status page, /metrics, /healthz, /readyz (overrides listen)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug (every run), info (state changes), warn, error")
	_ = cmd.MarkFlagDirname("flows")
	_ = cmd.MarkFlagDirname("state-dir")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	return cmd
}

func cmdRun(ctx context.Context, o runOptions, stderr io.Writer) int {
	cfg, ok := loadConfig(o.config, o.explicitConfig, stderr)
	if !ok {
		return exitInvalid
	}
	override(&cfg.FlowsDir, o.flowsDir)
	override(&cfg.StateDir, o.stateDir)
	override(&cfg.Listen, o.listen)
	log, err := newLogger(stderr, o.logLevel)
	if err == nil {
		err = checkOverrides(cfg, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authwatch run: %v\n", err)
		return exitInvalid
	}
	reloadPath := ""
	if _, err := os.Stat(o.config); err == nil {
		reloadPath = o.config
	}
	return runDaemon(ctx, cfg, reloadPath, log, stderr)
}

// checkOverrides checks what flags set after the file was validated, and
// that the flows directory is there: the daemon would otherwise fail later,
// as if it had broken, on what is a configuration error.
func checkOverrides(cfg *config.Config, o runOptions) error {
	if o.listen != "" {
		if err := config.CheckListen(o.listen); err != nil {
			return fmt.Errorf("--listen %s: %w", o.listen, err)
		}
	}
	source := "the default flows_dir"
	if o.flowsDir != "" {
		source = "--flows"
	} else if _, err := os.Stat(o.config); err == nil {
		source = "flows_dir in " + o.config
	}
	return checkFlowsDir(cfg.FlowsDir, source)
}

// checkFlowsDir checks the flows directory is one; source says where its
// name came from.
func checkFlowsDir(dir, source string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the flows directory %s (%s) does not exist: create it, or name another with --flows or flows_dir", dir, source)
	case err != nil:
		return fmt.Errorf("the flows directory %s (%s): %w", dir, source, err)
	case !info.IsDir():
		return fmt.Errorf("the flows directory %s (%s) is not a directory", dir, source)
	}
	return nil
}

func runDaemon(ctx context.Context, cfg *config.Config, cfgPath string, log *slog.Logger, stderr io.Writer) int {
	m, err := daemon.New(cfg, log, daemon.SystemdNotifier{})
	var field conf.FieldError
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
		var problems conf.Problems
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
