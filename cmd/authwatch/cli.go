package main

// The command tree, on github.com/spf13/cobra. Cobra rather than kong: it
// generates bash, zsh and fish completions and the manual page from the same
// command definitions the parser uses, and handles help (-h/--help on every
// command, to stdout) and flags anywhere on the line the way operators expect
// from kubectl, Hugo or the GitHub CLI.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authwatch/authwatch/internal/version"
)

// paths are the default locations of the configuration and the flows; a
// packaged install uses installed, tests their own.
type paths struct {
	config   string // the daemon's configuration file
	flowsDir string // its flows directory when the configuration does not say
}

// exitCode ends a command with a code; the command printed why.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// exit turns a command's exit code into its RunE error.
func exit(code int) error {
	if code == exitOK {
		return nil
	}
	return exitCode(code)
}

// runWith parses args, runs the command and returns the process's exit code:
// a usage error (unknown command or flag, wrong arguments) is 2.
func runWith(ctx context.Context, p paths, args []string, stdout, stderr io.Writer) int {
	root := newRoot(p)
	root.SetArgs(longFlagsWithOneDash(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		_ = root.Usage()
		return exitInvalid
	}
	cmd, err := root.ExecuteContextC(ctx)
	var code exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), err, cmd.CommandPath())
	return exitInvalid
}

func newRoot(p paths) *cobra.Command {
	root := &cobra.Command{
		Use:   "authwatch",
		Short: "monitor authentication flows and explain every failure",
		Long: "authwatch runs declarative authentication flows (YAML files in flows.d) against identity\n" +
			"providers and APIs, on a schedule or once, and explains every failure with a stable reason\n" +
			"code, its evidence and a next step.",
		Version:       versionText(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(newValidateCommand(p), newCheckCommand(), newDiagnoseCommand(), newNotifyCommand(p),
		newRunCommand(p), newStoreCommand(), newBaselineCommand(p), newDemoCommand(), newVersionCommand(), newManCommand(root))
	return root
}

// versionText is what `authwatch version` and `--version` print.
func versionText() string {
	return version.Get().String() + "\nlicence: Apache-2.0 (third-party: see /usr/share/doc/authwatch or the source)\n"
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, the commit it was built from, and the licence",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}

// noArgs refuses arguments, naming the first.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes no arguments", args[0], cmd.CommandPath())
	}
	return nil
}

// oneArg requires exactly one argument, called name in messages.
func oneArg(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return fmt.Errorf("missing %s: %s", name, cmd.UseLine())
		case len(args) > 1:
			return fmt.Errorf("one %s expected, got %d: %s", name, len(args), strings.Join(args, " "))
		}
		return nil
	}
}

// longFlagsWithOneDash rewrites -name and -name=value to --name when name is
// a long flag of some command: Go's flag package, which authwatch used before,
// accepted both, and scripts may rely on it.
func longFlagsWithOneDash(root *cobra.Command, args []string) []string {
	long := map[string]bool{"help": true, "version": true}
	var collect func(*cobra.Command)
	collect = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		for _, sub := range c.Commands() {
			collect(sub)
		}
	}
	collect(root)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}

// namesList lists names for a message, at most 20 of them.
func namesList(names []string) string {
	const most = 20
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(", … (%d more)", len(names)-most)
	}
	return strings.Join(names, ", ")
}
