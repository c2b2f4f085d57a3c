package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/report"
)

// outputOptions are the flags check and demo share.
type outputOptions struct {
	json  bool
	color string
}

func (o *outputOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print JSON Lines: one object per step result and one per flow (see docs/cli.md)")
	fs.StringVar(&o.color, "color", "auto", "colour the table: auto (only on a terminal), always, never")
}

// check refuses a --color that is none of the three.
func (o *outputOptions) check() error {
	switch o.color {
	case "auto", "always", "never":
		return nil
	}
	return fmt.Errorf("invalid argument %q for \"--color\" flag: auto, always or never", o.color)
}

func (o *outputOptions) print(w io.Writer, results []*flows.Result) error {
	if o.json {
		for _, r := range results {
			if err := report.JSON(w, r); err != nil {
				return err
			}
		}
		return nil
	}
	return report.Human(w, results, report.Style{Color: o.color == "always" || (o.color == "auto" && isTerminal(w))})
}

// checkOptions are check's flags.
type checkOptions struct {
	out           outputOptions
	only          string
	parallel      int
	failOnWarning bool
}

func newCheckCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [PATH...]",
		Short: "run every flow once, now, and explain each failure",
		Long: "Runs every flow of the flow files and directories given (default: flows.d) once, now, and\n" +
			"explains each failure with its reason code, evidence and next step. Exit status: 0 all\n" +
			"passed (warnings included, unless --fail-on-warning), 1 a flow failed, 2 the configuration\n" +
			"is invalid. --json prints JSON Lines: step, flow, error and a closing summary record\n" +
			"(docs/cli.md, docs/check-json.schema.json).",
		Example: "  authwatch check flows.d/\n  authwatch check --json --flow okta-api flows.d/",
		PreRunE: func(*cobra.Command, []string) error { return o.out.check() },
		RunE: func(cmd *cobra.Command, args []string) error {
			return exit(cmdCheck(cmd.Context(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	o.out.register(cmd.Flags())
	cmd.Flags().StringVar(&o.only, "flow", "", "run only the flow with this name")
	cmd.Flags().IntVar(&o.parallel, "parallel", 8, "how many flows run at once")
	cmd.Flags().BoolVar(&o.failOnWarning, "fail-on-warning", false, "exit 1 when a flow passed with a warning")
	_ = cmd.RegisterFlagCompletionFunc("flow", completeFlowNames)
	return cmd
}

func cmdCheck(ctx context.Context, o checkOptions, paths []string, stdout, stderr io.Writer) int {
	start := time.Now()
	set, problems := loadFlows(paths, false, stderr)
	if set == nil {
		return o.out.invalid(stdout, stderr, problems, start)
	}
	selected := set.Flows
	if o.only != "" {
		f, ok := set.Flow(o.only)
		if !ok {
			msg := fmt.Sprintf("no flow named %s; flows: %s", o.only, namesList(flowNames(set)))
			fmt.Fprintf(stderr, "authwatch check: %s\n", msg)
			return o.out.invalid(stdout, stderr, conf.Problems{{Message: msg}}, start)
		}
		selected = []*flows.Flow{f}
	}
	results := runAll(ctx, flows.NewRunner(), selected, o.parallel)
	code := resultsExitCode(results, o.failOnWarning)
	err := o.out.print(stdout, results)
	if err == nil && o.out.json {
		err = report.Summary(stdout, results, 0, code, time.Since(start))
	}
	if err != nil {
		fmt.Fprintf(stderr, "authwatch: %v\n", err)
		return exitFailed
	}
	return code
}

// invalid ends a check whose configuration cannot run: with --json, the
// problems as error records and a summary on stdout (stderr has them as
// text already).
func (o *outputOptions) invalid(stdout, stderr io.Writer, problems conf.Problems, start time.Time) int {
	if !o.json {
		return exitInvalid
	}
	err := report.Errors(stdout, problems)
	if err == nil {
		err = report.Summary(stdout, nil, len(problems), exitInvalid, time.Since(start))
	}
	if err != nil {
		fmt.Fprintf(stderr, "authwatch: %v\n", err)
	}
	return exitInvalid
}

func flowNames(set *flows.Set) []string {
	names := make([]string, len(set.Flows))
	for i, f := range set.Flows {
		names[i] = f.Name
	}
	return names
}

// completeFlowNames completes --flow with the names in the paths given so
// far (default flows.d); unset secrets and broken files just complete less.
func completeFlowNames(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		args = []string{"flows.d"}
	}
	set, err := flows.Load(flows.LoadOptions{}, args...)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return flowNames(set), cobra.ShellCompDirectiveNoFileComp
}

// runAll runs flows with bounded parallelism and returns results in order.
func runAll(ctx context.Context, r *flows.Runner, fs []*flows.Flow, parallel int) []*flows.Result {
	results := make([]*flows.Result, len(fs))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = r.Run(ctx, f)
		}()
	}
	wg.Wait()
	return results
}

// resultsExitCode is 1 when a flow failed (or was cut short), or passed
// with a warning and failOnWarning; 0 otherwise.
func resultsExitCode(results []*flows.Result, failOnWarning bool) int {
	for _, r := range results {
		switch r.Status() {
		case flows.StepPassed:
		case flows.StepWarned:
			if failOnWarning {
				return exitFailed
			}
		default:
			return exitFailed
		}
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}
