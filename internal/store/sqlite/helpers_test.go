package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus i minutes.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

// openTemp opens a store in a fresh temporary directory, closed at cleanup.
func openTemp(tb testing.TB) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "authwatch.db")
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s, path
}

// sampleSteps is a redacted step list of a typical three-step flow (~1 KB).
var sampleSteps = json.RawMessage(`[{"name":"token","kind":"client_credentials","ok":true,` +
	`"duration_ms":41.7,"request":{"method":"POST","url":"https://idp.example.com/oauth2/token",` +
	`"headers":{"Authorization":"Basic …f3a9c1","Content-Type":"application/x-www-form-urlencoded"}},` +
	`"response":{"status":200,"headers":{"Cache-Control":"no-store","Content-Type":"application/json"},` +
	`"token":{"fingerprint":"eyJhbG…Qssw5c","claims":{"iss":"https://idp.example.com","aud":"api://orders",` +
	`"exp":1772370000,"iat":1772366400,"scope":"orders.read"}}}},` +
	`{"name":"api","kind":"http","ok":true,"duration_ms":88.2,"request":{"method":"GET",` +
	`"url":"https://api.example.com/orders?limit=1","headers":{"Authorization":"Bearer …Qssw5c"}},` +
	`"response":{"status":200,"headers":{"Content-Type":"application/json","Date":"Sun, 01 Mar 2026 12:00:00 GMT"},` +
	`"body_bytes":512}},{"name":"userinfo","kind":"http","ok":false,"duration_ms":120.4,` +
	`"reason":"invalid_token","layer":"app","summary":"the API says error=\"invalid_token\": token expired",` +
	`"response":{"status":401,"headers":{"Www-Authenticate":"Bearer error=\"invalid_token\", ` +
	`error_description=\"The access token expired\""}}}]`)

// sampleRun returns run i of flow: a failure every fifth run.
func sampleRun(flow string, i int) store.Run {
	r := store.Run{Flow: flow, Start: at(i), DurationMS: 250.5, OK: i%5 != 4,
		Summary: fmt.Sprintf("run %d", i), Steps: sampleSteps}
	if !r.OK {
		r.Reason, r.Layer, r.FailedStep, r.Summary = "invalid_token", "app", "userinfo", "token expired"
	}
	return r
}

func record(tb testing.TB, s *Store, r store.Run) store.FlowState {
	tb.Helper()
	st, err := s.RecordRun(context.Background(), r)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
