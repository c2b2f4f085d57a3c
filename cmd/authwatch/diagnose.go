package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/diagnose"
	"github.com/authwatch/authwatch/internal/report"
)

func cmdDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bearerEnv := fs.String("bearer-env", "", "environment variable holding the bearer token")
	bearerFile := fs.String("bearer-file", "", "file holding the bearer token")
	basicEnv := fs.String("basic-env", "", "environment variable holding user:password for Basic auth")
	method := fs.String("method", "GET", "HTTP method")
	origin := fs.String("origin", "", "also run a CORS preflight from this origin")
	issuer := fs.String("issuer", "", "verify the token against this issuer's JWKS")
	audience := fs.String("audience", "", "the audience the API expects")
	timeout := fs.Duration("timeout", 15*time.Second, "timeout of each request")
	caFile := fs.String("ca-file", "", "PEM file of additional trusted CA certificates")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: authwatch diagnose URL [--bearer-env VAR | --bearer-file F | --basic-env VAR] [--method M] [--origin O] [--issuer I] [--audience A] [--json]\n\nWalks DNS, TLS, the answer without and with the credential, the token, clocks, CORS, redirects\nand cookies, and ends in the primary reason. The credential is sent to URL only and never printed.")
		fs.PrintDefaults()
	}
	url, rest := splitURLArg(args)
	if err := fs.Parse(rest); err != nil {
		return exitInvalid
	}
	if url == "" && fs.NArg() == 1 {
		url = fs.Arg(0)
	}
	if url == "" {
		fs.Usage()
		return exitInvalid
	}
	o := diagnose.Options{URL: url, Method: strings.ToUpper(*method), Origin: *origin, Issuer: *issuer, Audience: *audience, Timeout: *timeout, CAFile: *caFile}
	switch given := countNonEmpty(*bearerEnv, *bearerFile, *basicEnv); {
	case given > 1:
		fmt.Fprintln(stderr, "authwatch diagnose: give one of --bearer-env, --bearer-file, --basic-env")
		return exitInvalid
	case *bearerEnv != "":
		o.Credential, o.CredentialKind = flows.NewTemplate("${env:"+*bearerEnv+"}"), "bearer"
	case *bearerFile != "":
		o.Credential, o.CredentialKind = flows.NewTemplate("${file:"+absPath(*bearerFile)+"}"), "bearer"
	case *basicEnv != "":
		o.Credential, o.CredentialKind = flows.NewTemplate("${env:"+*basicEnv+"}"), "basic"
	}
	rep, err := diagnose.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch diagnose: %v\n", err)
		return exitInvalid
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		report.Diagnosis(stdout, rep, report.Style{Color: isTerminal(stdout)})
	}
	if !rep.OK() {
		return exitFailed
	}
	return exitOK
}

// splitURLArg lets the URL come first, before the flags.
func splitURLArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func countNonEmpty(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}
