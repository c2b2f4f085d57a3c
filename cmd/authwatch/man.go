package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/authwatch/authwatch/internal/version"
)

// newManCommand prints authwatch(1), generated from the command tree. One
// page for every command (as git(1) or systemctl(1) are) rather than cobra's
// page per command: the package installs one file, and `man authwatch`
// answers every question. md2man (cobra/doc's renderer) writes the roff.
func newManCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man",
		Short:  "print the manual page authwatch(1) in roff",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(md2man.Render(manMarkdown(root)))
			return err
		},
	}
}

// manMarkdown is the page in md2man's markdown.
func manMarkdown(root *cobra.Command) []byte {
	info := version.Get()
	date := manDate(os.Getenv("SOURCE_DATE_EPOCH"), info.Time)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%% \"AUTHWATCH\" \"1\" \"%s\" \"authwatch %s\" \"authwatch manual\"\n", date, info.Version)
	fmt.Fprintf(&b, "# NAME\nauthwatch - %s\n\n", mdEscape(root.Short))
	b.WriteString("# SYNOPSIS\n")
	for _, c := range manCommands(root) {
		fmt.Fprintf(&b, "%s\n\n", synopsis(c))
	}
	fmt.Fprintf(&b, "# DESCRIPTION\n%s\n\n", mdEscape(root.Long))
	b.WriteString("# COMMANDS\n")
	for _, c := range manCommands(root) {
		fmt.Fprintf(&b, "### %s\n%s\n\n", mdEscape(c.CommandPath()), mdEscape(longOrShort(c)))
		writeFlags(&b, c.NonInheritedFlags())
	}
	b.WriteString("# OPTIONS\n")
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	writeFlags(&b, root.NonInheritedFlags())
	b.WriteString(manTail)
	return b.Bytes()
}

// manDate is the page's date: SOURCE_DATE_EPOCH's when a package build
// sets it, else the commit's, never the clock's, so that two builds of one
// commit hold the same page.
func manDate(sourceDateEpoch, commitTime string) string {
	if secs, err := strconv.ParseInt(sourceDateEpoch, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC().Format(time.DateOnly)
	}
	if len(commitTime) >= len(time.DateOnly) {
		return commitTime[:len(time.DateOnly)]
	}
	return ""
}

// manCommands are the commands a user runs, in the order of the help; a
// group of commands without arguments (completion bash, zsh, ...) is one.
func manCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			switch {
			case !sub.IsAvailableCommand() || sub.Name() == "help":
			case isGroup(sub), !sub.HasAvailableSubCommands():
				out = append(out, sub)
			default:
				walk(sub)
			}
		}
	}
	root.InitDefaultCompletionCmd()
	walk(root)
	return out
}

// isGroup: a command that only chooses among subcommands taking no
// arguments, such as completion's shells.
func isGroup(c *cobra.Command) bool {
	if c.Runnable() || !c.HasAvailableSubCommands() {
		return false
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && (sub.HasAvailableSubCommands() || strings.Contains(sub.Use, " ")) {
			return false
		}
	}
	return true
}

// synopsis is "**authwatch check** [*options*] [*PATH*...]".
func synopsis(c *cobra.Command) string {
	line := "**" + mdEscape(c.CommandPath()) + "**"
	if isGroup(c) {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return line + " " + strings.Join(names, "|")
	}
	if c.HasAvailableLocalFlags() {
		line += " [*options*]"
	}
	if _, args, ok := strings.Cut(c.Use, " "); ok {
		line += " " + argWords.ReplaceAllString(mdEscape(args), "*$1*")
	}
	return line
}

// argWords are the placeholders of a command's arguments (PATH, URL).
var argWords = regexp.MustCompile(`\b([A-Z][A-Z]+)\b`)

func longOrShort(c *cobra.Command) string {
	if c.Long != "" {
		return c.Long
	}
	return c.Short
}

// writeFlags writes a definition list: the flag with its value's type and
// default, then what it does.
func writeFlags(b *bytes.Buffer, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		term := "**--" + mdEscape(f.Name) + "**"
		if f.Shorthand != "" {
			term = "**-" + f.Shorthand + "**, " + term
		}
		if typ, _ := pflag.UnquoteUsage(f); typ != "" {
			term += " *" + mdEscape(typ) + "*"
		}
		usage := f.Usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			usage += " (default: " + f.DefValue + ")"
		}
		fmt.Fprintf(b, "%s\n: %s\n\n", term, mdEscape(usage))
	})
}

var mdSpecial = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`)

// mdEscape keeps text literal in markdown: flows_dir is not an emphasis.
func mdEscape(s string) string { return mdSpecial.Replace(s) }

const manTail = `# EXIT STATUS
**0**
: Success: every flow passed, the configuration is valid, the daemon stopped when asked.

**1**
: A flow failed (check), a notification was not delivered (notify test), a request failed (diagnose), or the daemon failed while running.

**2**
: Usage or configuration error: an unknown command, flag or name, a missing argument, an invalid flow file or authwatch.yaml (each problem at file:line:column).

# FILES
*/etc/authwatch/authwatch.yaml*
: The daemon's configuration (optional: every key has a default). Check it with **authwatch validate --config** *FILE*.

*/etc/authwatch/flows.d*
: The flow files (\*.yaml, \*.yml) the daemon runs; reloaded on change and on SIGHUP.

*/var/lib/authwatch*
: The daemon's state: run history, incident streaks, rotated refresh tokens (authwatch.db).

# ENVIRONMENT
**NO\_COLOR**
: When set, the tables of check and demo are not coloured.

**CREDENTIALS\_DIRECTORY**
: Where systemd's LoadCredential= puts the secrets that flows read as ${credential:NAME}.

# SEE ALSO
**systemctl**(1), **journalctl**(1), **systemd.exec**(5)

The flow file reference, reason codes and daemon documentation: https://github.com/authwatch/authwatch/tree/main/docs
`
