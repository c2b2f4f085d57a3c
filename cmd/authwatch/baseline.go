package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/internal/baseline"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

type baselineOptions struct {
	config, stateDir, by string
	explicitConfig, json bool
}

func newBaselineCommand(p paths) *cobra.Command {
	var o baselineOptions
	root := &cobra.Command{
		Use:   "baseline",
		Short: "show a flow's learned baseline, or accept its changed behaviour as normal",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("missing subcommand: %s show FLOW, or %s accept FLOW", cmd.CommandPath(), cmd.CommandPath())
		},
	}
	show := &cobra.Command{
		Use:   "show FLOW",
		Short: "print what is normal for the flow, what changed and since when, and who accepted what",
		Long: "Prints the flow's baseline as the daemon keeps it in the state store: the features it compares\n" +
			"with their normal values, those that vary by design, latency percentiles per step, the\n" +
			"changes of the latest passing run (each since when), and the accepts. Exit status: 0 shown,\n" +
			"1 no baseline or the store failed, 2 a usage error.",
		Args: oneArg("FLOW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.explicitConfig = cmd.Flags().Changed("config")
			return exit(cmdBaselineShow(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	show.Flags().BoolVar(&o.json, "json", false, "print the baseline as JSON")
	accept := &cobra.Command{
		Use:   "accept FLOW [--by NAME]",
		Short: "take the flow's changed behaviour as its new normal (recorded with who and when)",
		Long: "Records in the state store that NAME took the flow's changed behaviour as normal. The daemon\n" +
			"applies it at the flow's next passing run: the changes it showed become the baseline and the\n" +
			"baseline_changed warning resolves. Works while the daemon runs. Exit status: 0 recorded,\n" +
			"1 the store failed, 2 a usage error.",
		Args: oneArg("FLOW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.explicitConfig = cmd.Flags().Changed("config")
			return exit(cmdBaselineAccept(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	accept.Flags().StringVar(&o.by, "by", "", "who accepts (default: the user running the command)")
	for _, c := range []*cobra.Command{show, accept} {
		c.Flags().StringVar(&o.config, "config", p.config, "the daemon's configuration file (for its state store)")
		c.Flags().StringVar(&o.stateDir, "state-dir", "", "state directory (overrides state_dir)")
		_ = c.MarkFlagFilename("config", "yaml", "yml")
		_ = c.MarkFlagDirname("state-dir")
		root.AddCommand(c)
	}
	return root
}

// baselineStore is what the baseline commands use of the state store.
type baselineStore interface {
	store.Baselines
	Close() error
}

// openBaselineStore opens the daemon's state store beside a running
// daemon: it takes no lock (a baseline accept is one row), runs no check
// and never creates a SQLite database that is not there.
func openBaselineStore(ctx context.Context, o baselineOptions, stderr io.Writer) (baselineStore, bool) {
	cfg, ok := loadConfig(o.config, o.explicitConfig, stderr)
	if !ok {
		return nil, false
	}
	override(&cfg.StateDir, o.stateDir)
	if cfg.UsesPostgres() {
		dsn, err := cfg.Store.Postgres.DSN.ExpandSecrets(conf.SecretSource{})
		if err != nil {
			fmt.Fprintf(stderr, "authwatch baseline: store.postgres.dsn: %v\n", err)
			return nil, false
		}
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "authwatch baseline: %v\n", err)
			return nil, false
		}
		return s, true
	}
	path := filepath.Join(cfg.StateDir, "authwatch.db")
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "authwatch baseline: no state database at %s (has the daemon run with this state_dir?): %v\n", path, err)
		return nil, false
	}
	s, err := sqlite.OpenWith(path, sqlite.Options{Check: sqlite.CheckNone})
	if err != nil {
		fmt.Fprintf(stderr, "authwatch baseline: %v\n", err)
		return nil, false
	}
	return s, true
}

// cmdBaselineAccept is `authwatch baseline accept`.
func cmdBaselineAccept(ctx context.Context, o baselineOptions, flow string, stdout, stderr io.Writer) int {
	by := strings.TrimSpace(o.by)
	if by == "" {
		by = currentUser()
	}
	if len(by) > 200 || strings.ContainsAny(by, "\n\r") {
		fmt.Fprintln(stderr, "authwatch baseline accept: --by must be one line of at most 200 characters")
		return exitInvalid
	}
	s, ok := openBaselineStore(ctx, o, stderr)
	if !ok {
		return exitInvalid
	}
	defer s.Close()
	b, found, err := loadBaselineView(ctx, s, flow)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch baseline accept: %v\n", err)
		return exitFailed
	}
	a, err := s.AcceptBaseline(ctx, store.BaselineAccept{Flow: flow, By: by, At: time.Now()})
	if err != nil {
		fmt.Fprintf(stderr, "authwatch baseline accept: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "accepted by %s at %s (accept %d)\n", a.By, a.At.Format(time.RFC3339), a.ID)
	switch {
	case !found:
		fmt.Fprintf(stdout, "flow %s has no baseline yet: the accept changes nothing\n", flow)
	case len(b.Changed) == 0:
		fmt.Fprintln(stdout, "nothing has changed since the baseline was learned: the accept changes nothing")
	default:
		fmt.Fprintln(stdout, "the daemon takes these as normal at the flow's next passing run:")
		for _, d := range b.Changed {
			fmt.Fprintf(stdout, "  %s: %s\n", d.Step, d.Phrase)
		}
	}
	return exitOK
}

// cmdBaselineShow is `authwatch baseline show`.
func cmdBaselineShow(ctx context.Context, o baselineOptions, flow string, stdout, stderr io.Writer) int {
	s, ok := openBaselineStore(ctx, o, stderr)
	if !ok {
		return exitInvalid
	}
	defer s.Close()
	v, found, err := loadBaselineView(ctx, s, flow)
	if err == nil && !found {
		err = fmt.Errorf("flow %s has no baseline (it has had no passing run, or baseline: false)", flow)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authwatch baseline show: %v\n", err)
		return exitFailed
	}
	pending, err := pendingAccepts(ctx, s, v)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch baseline show: %v\n", err)
		return exitFailed
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			baseline.View
			Pending []store.BaselineAccept `json:"pending_accepts,omitempty"`
		}{v.View, pending})
		return exitOK
	}
	printBaseline(stdout, v.View, pending)
	return exitOK
}

// pendingAccepts are the accepts the daemon has not applied yet and will:
// those made since the changes shown began.
func pendingAccepts(ctx context.Context, s store.Baselines, v storedView) ([]store.BaselineAccept, error) {
	if len(v.Changed) == 0 {
		return nil, nil
	}
	all, err := s.BaselineAccepts(ctx, v.Flow, v.lastAccept, 0)
	if err != nil {
		return nil, err
	}
	first := v.Changed[0].Since
	for _, d := range v.Changed {
		if d.Since.Before(first) {
			first = d.Since
		}
	}
	var out []store.BaselineAccept
	for _, a := range all {
		if !a.At.Before(first) {
			out = append(out, a)
		}
	}
	return out, nil
}

type storedView struct {
	baseline.View
	lastAccept int64
}

func loadBaselineView(ctx context.Context, s store.Baselines, flow string) (storedView, bool, error) {
	rec, found, err := s.LoadBaseline(ctx, flow)
	if err != nil || !found {
		return storedView{}, found, err
	}
	var b baseline.Baseline
	if err := json.Unmarshal(rec.Data, &b); err != nil {
		return storedView{}, false, errors.New("the stored baseline is unreadable: " + err.Error())
	}
	return storedView{View: b.View(), lastAccept: b.LastAccept}, true, nil
}

func printBaseline(w io.Writer, v baseline.View, pending []store.BaselineAccept) {
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	if v.Learning {
		fmt.Fprintf(w, "flow %s: learning, %d of %d passing runs so far\n", v.Flow, v.Runs, v.Learn)
	} else {
		fmt.Fprintf(w, "flow %s: learned from %d passing runs, %s to %s\n", v.Flow, v.Runs, stamp(v.Started), stamp(v.LearnedAt))
	}
	if len(v.Changed) > 0 {
		fmt.Fprintln(w, "\nchanged (warning baseline_changed):")
		for _, d := range v.Changed {
			fmt.Fprintf(w, "  %s: %s since %s\n", d.Step, d.Phrase, stamp(d.Since))
		}
	}
	if len(v.Normal) > 0 {
		fmt.Fprintln(w, "\nnormal:")
		for _, it := range v.Normal {
			fmt.Fprintf(w, "  %s = %s\n", it.Key, it.Value)
		}
	}
	if len(v.Latency) > 0 {
		fmt.Fprintln(w, "\nlatency:")
		for _, l := range v.Latency {
			fmt.Fprintf(w, "  %s p50 %s, p95 %s\n", l.Step, l.P50, l.P95)
		}
	}
	if len(v.Varying) > 0 {
		fmt.Fprintf(w, "\nvaries by design (not compared): %s\n", strings.Join(v.Varying, ", "))
	}
	if len(v.Accepts) > 0 {
		fmt.Fprintln(w, "\naccepted:")
		for _, a := range v.Accepts {
			fmt.Fprintf(w, "  %s by %s: %s\n", stamp(a.At), a.By, strings.Join(a.Drifts, "; "))
		}
	}
	for _, a := range pending {
		fmt.Fprintf(w, "\naccept by %s at %s: applied at the flow's next passing run\n", a.By, stamp(a.At))
	}
}

// currentUser names who runs the command: the user sudo ran it for, else
// the login name.
func currentUser() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}
