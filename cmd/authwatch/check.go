package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/report"
)

// outputOptions are the flags check and demo share.
type outputOptions struct {
	json  bool
	color string
}

func (o *outputOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print one JSON object per step result and one per flow")
	fs.StringVar(&o.color, "color", "auto", "colour the table: auto (only on a terminal), always, never")
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

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var out outputOptions
	out.register(fs)
	only := fs.String("flow", "", "run only the flow with this name")
	parallel := fs.Int("parallel", 8, "how many flows run at once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: authwatch check [flags] [PATH...]  (default: flows.d)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitInvalid
	}
	set, code := loadFlows(fs.Args(), stderr)
	if set == nil {
		return code
	}
	selected := set.Flows
	if *only != "" {
		f, ok := set.Flow(*only)
		if !ok {
			fmt.Fprintf(stderr, "authwatch: no flow named %q\n", *only)
			return exitInvalid
		}
		selected = []*flows.Flow{f}
	}
	results := runAll(ctx, flows.NewRunner(), selected, *parallel)
	if err := out.print(stdout, results); err != nil {
		fmt.Fprintf(stderr, "authwatch: %v\n", err)
		return exitFailed
	}
	return exitCode(results)
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

func exitCode(results []*flows.Result) int {
	for _, r := range results {
		if !r.OK {
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
