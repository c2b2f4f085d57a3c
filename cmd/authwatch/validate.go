package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/daemon"
	"github.com/authwatch/authwatch/internal/report"
)

func newValidateCommand(p paths) *cobra.Command {
	var cfgPath string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "check flow files and the daemon's configuration, reporting every problem with file:line:column",
		Long: "Checks flow files and directories (PATH...) and the daemon's configuration (--config FILE,\n" +
			"with its flows_dir unless PATHs are given), reporting every problem at once with\n" +
			"file:line:column. With neither, checks " + p.config + " (when it exists) and its\n" +
			"flows_dir (" + p.flowsDir + " by default), or ./flows.d in a source checkout.\n" +
			"Exit status: 0 valid (warnings, such as an unset secret, included), 2 invalid; with --strict,\n" +
			"warnings exit 2 too.",
		Example: "  authwatch validate flows.d/\n  authwatch validate --config " + p.config,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("config") {
				cfgPath = ""
			}
			return exit(cmdValidate(p, cfgPath, args, strict, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", p.config, "the daemon's configuration file to check")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	cmd.Flags().BoolVar(&strict, "strict", false, "treat warnings (an unset secret, a literal secret, a file without flows) as problems: exit 2")
	return cmd
}

// cmdValidate checks the configuration file cfgPath (none when empty) and
// the flow paths; with neither, what an installed daemon would load.
// With strict, the flows' warnings (an unset secret, a literal secret, a
// file without flows) make the configuration invalid too.
func cmdValidate(p paths, cfgPath string, flowPaths []string, strict bool, stdout, stderr io.Writer) int {
	if cfgPath == "" && len(flowPaths) == 0 {
		var ok bool
		if cfgPath, flowPaths, ok = defaultTargets(p, stderr); !ok {
			return exitInvalid
		}
	}
	var cfg *config.Config
	if cfgPath != "" {
		var ok bool
		cfg, ok = loadConfig(cfgPath, true, stderr)
		if !ok {
			return exitInvalid
		}
		fmt.Fprintf(stdout, "ok: %s: %d notifiers, %d routes, flows in %s\n", cfgPath, len(cfg.Notifiers), len(cfg.Routes), cfg.FlowsDir)
		if len(flowPaths) == 0 {
			if err := checkFlowsDir(cfg.FlowsDir, "flows_dir in "+cfgPath); err != nil {
				fmt.Fprintf(stderr, "authwatch validate: %v\n", err)
				return exitInvalid
			}
			flowPaths = []string{cfg.FlowsDir}
		}
	}
	set, _ := loadFlows(flowPaths, true, stderr)
	if set == nil {
		return exitInvalid
	}
	if cfg != nil && cfg.UsesPostgres() && cfg.Store.Postgres.SecretKey.IsZero() {
		if problems := daemon.PersistWithoutSecretStore(set); len(problems) > 0 {
			report.Problems(stderr, problems, nil)
			fmt.Fprintf(stderr, "%s: the configuration is invalid\n", countProblems(len(problems)))
			return exitInvalid
		}
	}
	if strict && len(set.Warnings) > 0 {
		fmt.Fprintf(stderr, "%s with --strict: the configuration is invalid\n", countWarnings(len(set.Warnings)))
		return exitInvalid
	}
	fmt.Fprintf(stdout, "ok: %d flows, %d steps\n", len(set.Flows), countSteps(set))
	return exitOK
}

func countWarnings(n int) string {
	if n == 1 {
		return "1 warning"
	}
	return fmt.Sprintf("%d warnings", n)
}

// defaultTargets is what `validate` alone checks: the installed
// configuration and its flows directory, else the installed flows
// directory, else ./flows.d of a source checkout.
func defaultTargets(p paths, stderr io.Writer) (cfgPath string, flowPaths []string, ok bool) {
	switch {
	case exists(p.config):
		return p.config, nil, true
	case exists(p.flowsDir):
		return "", []string{p.flowsDir}, true
	case exists("flows.d"):
		return "", []string{"flows.d"}, true
	}
	fmt.Fprintf(stderr, "authwatch validate: nothing to check: neither %s nor %s exists (nor ./flows.d); name flow files or directories, or --config FILE\n", p.config, p.flowsDir)
	return "", nil, false
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// loadConfig reads the daemon's configuration and prints its problems,
// each at file:line:column.
func loadConfig(path string, explicit bool, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path, explicit)
	var problems conf.Problems
	switch {
	case errors.As(err, &problems):
		report.Problems(stderr, problems, nil)
		fmt.Fprintf(stderr, "%s in %s: the configuration is invalid\n", countProblems(len(problems)), path)
		return nil, false
	case err != nil:
		fmt.Fprintf(stderr, "authwatch: configuration: %v\n", err)
		return nil, false
	}
	return cfg, true
}

// loadFlows loads and reports problems and warnings; a nil set means the
// configuration is invalid, for the problems returned. Directories
// without flow files are an empty set when allowEmpty (validate of a fresh
// install), an error otherwise (check has nothing to run).
func loadFlows(paths []string, allowEmpty bool, stderr io.Writer) (*flows.Set, conf.Problems) {
	if len(paths) == 0 {
		paths = []string{"flows.d"}
	}
	set, err := flows.Load(flows.LoadOptions{AllowEmpty: allowEmpty}, paths...)
	var problems conf.Problems
	switch {
	case errors.As(err, &problems):
		problems = configFilesAsFlows(problems)
		report.Problems(stderr, problems, nil)
		fmt.Fprintf(stderr, "%s: the configuration is invalid\n", countProblems(len(problems)))
		return nil, problems
	case err != nil:
		fmt.Fprintf(stderr, "authwatch: %v\n", err)
		return nil, conf.Problems{{Message: err.Error()}}
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.Error())
	}
	return set, nil
}

// configFilesAsFlows replaces the problems of a file that is authwatch's own
// configuration, read as a flow file by mistake, with one that says so.
func configFilesAsFlows(problems conf.Problems) conf.Problems {
	var out conf.Problems
	told := map[string]bool{}
	for _, p := range problems {
		switch {
		case told[p.Pos.File]:
		case isConfigFile(p.Pos.File):
			told[p.Pos.File] = true
			out = append(out, &conf.Problem{Pos: conf.Position{File: p.Pos.File},
				Message: "this is authwatch's own configuration, not a flow file: authwatch validate --config " + p.Pos.File})
		default:
			out = append(out, p)
		}
	}
	return out
}

// isConfigFile reads at most 1 MiB of a regular file (never blocking on a
// named pipe) and tells whether it is a daemon configuration.
func isConfigFile(path string) bool {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		return false
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return err == nil && config.IsConfigFile(data)
}

// onlyEmptyDirs reports whether every path is a directory without flow files.
func countProblems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

func countSteps(set *flows.Set) int {
	n := 0
	for _, f := range set.Flows {
		n += len(f.Steps)
	}
	return n
}
