package main

import (
	"fmt"

	"github.com/authwatch/authwatch/flows"
)

func try(name, y string) {
	set, err := flows.LoadBytes(flows.LoadOptions{}, name, []byte(y))
	if err != nil {
		fmt.Printf("%s: ERR %v\n", name, err)
		return
	}
	fmt.Printf("%s: OK %d flows, warnings: %v\n", name, len(set.Flows), set.Warnings)
}

const base = `
name: t
every: 1m
steps:
  - id: tok
    kind: client_credentials
    token_url: https://x/token
    client_id: %s
    client_secret: ${env:S}
    expect:
      access_token:
        claims: {%s}
`

func main() {
	try("int client_id", fmt.Sprintf(base, "12345", "a: b"))
	try("bool claim", fmt.Sprintf(base, "abc", "email_verified: true"))
	try("int claim", fmt.Sprintf(base, "abc", "n: 5"))
	try("status string", `
name: t
every: 1m
steps:
  - id: a
    kind: http
    url: https://x/
    expect: {status: "401"}
`)
	try("status empty", `
name: t
every: 1m
steps:
  - id: a
    kind: http
    url: https://x/
    expect: {status: []}
`)
	try("timeout int", `
name: t
every: 1m
timeout: 30
steps:
  - id: a
    kind: http
    url: https://x/
`)
	try("every both", `
name: t
every: 1m
cron: "* * * * *"
steps:
  - id: a
    kind: http
    method: get
    url: https://x/
`)
	try("multidoc", "name: a\nevery: 1m\nsteps: [{id: a, kind: http, url: 'https://x/'}]\n---\nflows:\n  - name: b\n    every: 1m\n    steps: [{id: a, kind: http, url: 'https://x/'}]\n")
	try("bool tpl", fmt.Sprintf(base, "true", "a: b"))
	try("null field", `
name: t
every: 1m
labels:
steps:
  - id: a
    kind: http
    url: https://x/
    expect:
`)
}
