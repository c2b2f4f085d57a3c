package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/notify"
)

func newNotifyCommand(p paths) *cobra.Command {
	notify := &cobra.Command{
		Use:   "notify",
		Short: "send a clearly marked test notification through a route's notifiers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("missing subcommand: %s test ROUTE", cmd.CommandPath())
		},
	}
	cfgPath := p.config
	test := &cobra.Command{
		Use:   "test ROUTE",
		Short: "send a clearly marked test notification through every notifier of ROUTE",
		Long: "Sends a clearly marked test notification through every notifier of the route, directly\n" +
			"(not through the outbox), and shows each receiver's answer. Exit status: 0 every notifier\n" +
			"delivered, 1 one failed, 2 the configuration is invalid or has no such route.",
		Args: oneArg("ROUTE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exit(cmdNotifyTest(cmd.Context(), cfgPath, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return routeNames(cfgPath), cobra.ShellCompDirectiveNoFileComp
		},
	}
	test.Flags().StringVar(&cfgPath, "config", p.config, "configuration file")
	notify.AddCommand(test)
	return notify
}

// cmdNotifyTest is `authwatch notify test ROUTE`: a clearly marked test page
// through every notifier of a route, sent directly (not via the outbox) so
// the answer of each receiver is shown.
func cmdNotifyTest(ctx context.Context, cfgPath, route string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(cfgPath, true, stderr)
	if !ok {
		return exitInvalid
	}
	var names []string
	for _, r := range cfg.Routes {
		if r.Name == route {
			names = r.Notifiers
		}
	}
	if names == nil {
		fmt.Fprintf(stderr, "authwatch notify: no route named %s in %s; routes: %s\n", route, cfgPath, namesList(configRoutes(cfg)))
		return exitInvalid
	}
	notifiers, err := cfg.NewNotifiers(notify.Deps{HTTP: &http.Client{Timeout: 30 * time.Second}, Now: time.Now, ReasonLayer: flows.ReasonLayer})
	if err != nil {
		fmt.Fprintf(stderr, "authwatch notify: %v\n", err)
		return exitInvalid
	}
	return sendTest(ctx, route, names, notifiers, stdout)
}

func configRoutes(cfg *config.Config) []string {
	names := make([]string, len(cfg.Routes))
	for i, r := range cfg.Routes {
		names[i] = r.Name
	}
	return names
}

// routeNames completes ROUTE from the configuration.
func routeNames(cfgPath string) []string {
	cfg, err := config.Load(cfgPath, true)
	if err != nil {
		return nil
	}
	return configRoutes(cfg)
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
