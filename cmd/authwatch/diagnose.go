package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/diagnose"
	"github.com/authwatch/authwatch/internal/report"
)

// diagnoseOptions are diagnose's flags.
type diagnoseOptions struct {
	bearerEnv, bearerFile, basicEnv string
	method, origin                  string
	issuer, audience                string
	timeout                         time.Duration
	caFile                          string
	json                            bool
}

func newDiagnoseCommand() *cobra.Command {
	var o diagnoseOptions
	cmd := &cobra.Command{
		Use:   "diagnose URL",
		Short: "troubleshoot one request layer by layer: DNS, TLS, challenge, token, clocks, CORS, redirects",
		Long: "Walks DNS, TLS, the answer without and with the credential, the token, clocks, CORS, redirects\n" +
			"and cookies, and ends in the primary reason. The credential is sent to URL only and never printed.",
		Example: "  TOKEN=$(get-a-token) authwatch diagnose https://api.example.com/orders --bearer-env TOKEN --issuer https://idp.example.com",
		Args:    oneArg("URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exit(cmdDiagnose(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr()))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.bearerEnv, "bearer-env", "", "environment variable holding the bearer token")
	f.StringVar(&o.bearerFile, "bearer-file", "", "file holding the bearer token")
	f.StringVar(&o.basicEnv, "basic-env", "", "environment variable holding user:password for Basic auth")
	f.StringVar(&o.method, "method", "GET", "HTTP method")
	f.StringVar(&o.origin, "origin", "", "also run a CORS preflight from this origin")
	f.StringVar(&o.issuer, "issuer", "", "verify the token against this issuer's JWKS")
	f.StringVar(&o.audience, "audience", "", "the audience the API expects")
	f.DurationVar(&o.timeout, "timeout", 15*time.Second, "timeout of each request")
	f.StringVar(&o.caFile, "ca-file", "", "PEM file of additional trusted CA certificates")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	cmd.MarkFlagsMutuallyExclusive("bearer-env", "bearer-file", "basic-env")
	return cmd
}

func cmdDiagnose(ctx context.Context, url string, opts diagnoseOptions, stdout, stderr io.Writer) int {
	o := diagnose.Options{URL: url, Method: strings.ToUpper(opts.method), Origin: opts.origin, Issuer: opts.issuer,
		Audience: opts.audience, Timeout: opts.timeout, CAFile: opts.caFile}
	switch {
	case opts.bearerEnv != "":
		o.Credential, o.CredentialKind = conf.NewTemplate("${env:"+opts.bearerEnv+"}"), "bearer"
	case opts.bearerFile != "":
		o.Credential, o.CredentialKind = conf.NewTemplate("${file:"+absPath(opts.bearerFile)+"}"), "bearer"
	case opts.basicEnv != "":
		o.Credential, o.CredentialKind = conf.NewTemplate("${env:"+opts.basicEnv+"}"), "basic"
	}
	rep, err := diagnose.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "authwatch diagnose: %v\n", err)
		return exitInvalid
	}
	if opts.json {
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
