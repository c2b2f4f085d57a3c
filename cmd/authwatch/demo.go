package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/demo"
)

// demoOptions are demo's flags.
type demoOptions struct {
	out    outputOptions
	once   bool
	listen string
}

func newDemoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "start an embedded OpenID provider and API on 127.0.0.1 and run demo flows against them",
		Long: "Starts an OpenID provider and an orders API on 127.0.0.1 and runs demo flows against them,\n" +
			"some healthy and some broken on purpose, repeating on their schedule until interrupted.\n" +
			"Nothing leaves the machine.",
		Args:    noArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.out.check() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exit(cmdDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	o.out.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.once, "once", false, "run each demo flow once and exit")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the demo's status page (loopback)")
	return cmd
}

func cmdDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) int {
	// The embedded IdP logs every refused request through the process-wide
	// logger; refusals are the demo's point and are reported below instead.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	env, err := demo.Start(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch demo: starting the demo IdP and API: %v\n", err)
		return exitFailed
	}
	defer env.Close()
	set, err := flows.LoadBytes(flows.LoadOptions{Secrets: conf.SecretSource{LookupEnv: demo.LookupEnv}}, demo.FlowsFile, env.Flows())
	if err != nil {
		fmt.Fprintf(stderr, "authwatch demo: the demo's own flows do not load (a bug):\n%v\n", err)
		return exitInvalid
	}
	runner := flows.NewRunner()
	runner.Secrets.LookupEnv = demo.LookupEnv
	page, err := startDemoStatusPage(ctx, set.Flows, o.listen)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch demo: starting the status page: %v\n", err)
		return exitFailed
	}
	defer page.Close()
	fmt.Fprintf(stderr, "authwatch demo: OpenID provider at %s, orders API at %s\n", env.IdP.Issuer(), env.API.URL())
	fmt.Fprintf(stderr, "authwatch demo: status page at %s\n", page.URL)
	fmt.Fprintf(stderr, "authwatch demo: %d flows, some broken on purpose (see internal/demo/flows.yaml)\n\n", len(set.Flows))
	return demoLoop(ctx, runner, set.Flows, o.out, o.once, page.record, stdout, stderr)
}

// demoLoop runs the flows now and then on their interval until ctx ends.
func demoLoop(ctx context.Context, runner *flows.Runner, fs []*flows.Flow, out outputOptions, once bool, record func([]*flows.Result), stdout, stderr io.Writer) int {
	interval := shortestInterval(fs)
	for {
		results := runAll(ctx, runner, fs, len(fs))
		if ctx.Err() != nil {
			return exitOK
		}
		record(results)
		if err := out.print(stdout, results); err != nil {
			fmt.Fprintf(stderr, "authwatch demo: %v\n", err)
			return exitFailed
		}
		if once {
			return exitOK
		}
		if !out.json {
			fmt.Fprintf(stdout, "next run in %s (Ctrl-C to stop)\n\n", interval)
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(interval):
		}
	}
}

func shortestInterval(fs []*flows.Flow) time.Duration {
	interval := time.Minute
	for _, f := range fs {
		if e := f.Every.Std(); e > 0 && e < interval {
			interval = e
		}
	}
	return interval
}
