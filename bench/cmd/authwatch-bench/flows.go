package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	clientID     = "cc-client"
	clientSec    = "cc-secret"
	apiResource  = "https://api.example.test/"
	apiScope     = "api:read"
	secretEnv    = "AUTHWATCH_BENCH_SECRET"
	badSecEnv    = "AUTHWATCH_BENCH_BAD_SECRET"
	flowsPerFile = 250
)

// flowKind is what one generated flow does.
type flowKind int

const (
	kindCC        flowKind = iota // client_credentials token, then GET /api with it
	kindPlain                     // GET /api
	kindBadSecret                 // client_credentials with a wrong secret: invalid_client
	kindAPI401                    // GET /api401: the API refuses (401 Bearer invalid_token)
)

func (k flowKind) String() string {
	return [...]string{"cc", "plain", "badsecret", "api401"}[k]
}

// kindOf decides flow i's kind: even flows are token + API call, odd ones a
// plain API call; when failEvery > 0, every failEvery-th flow fails
// instead (alternately a wrong secret and a 401 from the API).
func kindOf(i, failEvery int) flowKind {
	if failEvery > 0 && i%failEvery == failEvery-1 {
		if (i/failEvery)%2 == 0 {
			return kindBadSecret
		}
		return kindAPI401
	}
	if i%2 == 0 {
		return kindCC
	}
	return kindPlain
}

// writeFlows writes n flows, flowsPerFile per file, into dir.
func writeFlows(dir string, n int, every time.Duration, tokenURL, apiURL string, failEvery int) (map[flowKind]int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	counts := map[flowKind]int{}
	var b strings.Builder
	file := 0
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bench-%03d.yaml", file)), []byte("flows:\n"+b.String()), 0o644)
		b.Reset()
		file++
		return err
	}
	for i := range n {
		k := kindOf(i, failEvery)
		counts[k]++
		name := fmt.Sprintf("bench-%s-%05d", k, i)
		fmt.Fprintf(&b, "  - name: %s\n    every: %s\n    steps:\n", name, every)
		switch k {
		case kindCC, kindBadSecret:
			env := secretEnv
			if k == kindBadSecret {
				env = badSecEnv
			}
			fmt.Fprintf(&b, `      - id: token
        kind: client_credentials
        token_url: %s
        client_id: %s
        client_secret: ${env:%s}
        resource: [%s]
        scopes: [%s]
      - id: api
        kind: http
        url: %s/cc/%05d
        auth: {bearer: "${steps.token.access_token}"}
        expect: {status: 200}
`, tokenURL, clientID, env, apiResource, apiScope, apiURL, i)
		case kindPlain:
			fmt.Fprintf(&b, `      - id: api
        kind: http
        url: %s/plain/%05d
        expect: {status: 200}
`, apiURL, i)
		case kindAPI401:
			fmt.Fprintf(&b, `      - id: api
        kind: http
        url: %s401/%05d
        expect: {status: 200}
`, apiURL, i)
		}
		if (i+1)%flowsPerFile == 0 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return counts, flush()
}
