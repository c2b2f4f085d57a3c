package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

func TestMerge(t *testing.T) {
	base := DefaultPolicy()
	if got := base.Merge(Override{}); got != base {
		t.Errorf("empty override changed the policy: %v", got)
	}
	got := base.Merge(Override{OpenAfter: ptr(5), OpenWindow: &Window{3, 10}, RemindEvery: ptr(conf.Dur(time.Duration(0))),
		Flap: &FlapPolicy{}, Warnings: ptr(false)})
	want := Policy{OpenAfter: 5, OpenWindow: Window{3, 10}, ResolveAfter: 1, Warnings: false}
	if got != want {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	tests := []struct {
		name string
		o    Override
		want string
	}{
		{"open_after", Override{OpenAfter: ptr(0)}, "open_after: must be 1..1000, got 0"},
		{"resolve_after", Override{ResolveAfter: ptr(-1)}, "resolve_after: must be 1..1000, got -1"},
		{"negative reminder", Override{RemindEvery: ptr(conf.Dur(-time.Hour))}, "remind_every: must not be negative (0 turns reminders off), got -1h0m0s"},
		{"tiny reminder", Override{RemindEvery: ptr(conf.Dur(time.Second))}, "remind_every: must be at least 1m (or 0 for never), got 1s"},
		{"half a window", Override{OpenWindow: &Window{Failures: 3}}, "open_window: set both failures and runs (e.g. {failures: 3, runs: 5}), or neither to turn it off"},
		{"window failures > runs", Override{OpenWindow: &Window{6, 5}}, "open_window.failures: must be at most runs (5), got 6"},
		{"huge window", Override{OpenWindow: &Window{6, 5000}}, "open_window.runs: must be at most 1000, got 5000"},
		{"half a flap", Override{Flap: &FlapPolicy{Runs: 3}}, "flap: set both changes and runs (e.g. {changes: 4, runs: 10}), or neither to turn flap detection off"},
		{"flap changes 1", Override{Flap: &FlapPolicy{1, 10}}, "flap.changes: must be at least 2 (one change is a flow that broke or recovered), got 1"},
		{"flap changes ≥ runs", Override{Flap: &FlapPolicy{10, 10}}, "flap.changes: must be less than runs (10 runs hold at most 9 changes), got 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := DefaultPolicy().Merge(tc.o).Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
	err := Policy{}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("zero policy: every problem at once, got %v", err)
	}
}

// An unvalidated policy is still applied safely.
func TestZeroPolicyIsSafe(t *testing.T) {
	st, evs := Step(Policy{}, State{}, withTime(*fail("timeout"), t0), t0, nil)
	if len(evs) != 1 || evs[0].Type != notify.Opened {
		t.Fatalf("OpenAfter 0 acts as 1: %v", showAll(evs))
	}
	if _, evs = Tick(Policy{RemindEvery: -time.Hour}, st, t0.Add(time.Hour), nil); len(evs) != 0 {
		t.Errorf("negative reminder interval: %v", showAll(evs))
	}
}

func TestFromResult(t *testing.T) {
	start := t0
	failed := &flows.Result{Flow: "login", Start: start, Labels: map[string]string{"team": "iam", "env": "prod"},
		Steps: []flows.StepResult{
			{ID: "discovery", Status: flows.StepWarned, Findings: []flows.Finding{{Reason: flows.ReasonTLSCertificateExpiring, Summary: "expires in 9 days"}}},
			{ID: "token", Status: flows.StepFailed, Failure: &flows.Failure{Step: "token", Reason: flows.ReasonSigningKeyNotFound, Summary: "kid k2 not in JWKS",
				Evidence: flows.Evidence{Facts: []flows.Fact{flows.F("kid", "k2")}, Exchanges: []flows.ExchangeEvidence{
					{RequestIDs: map[string]string{"x-request-id": "a"}}, {RequestIDs: map[string]string{"x-request-id": "b", "cf-ray": "c"}}}}},
				Findings: []flows.Finding{{Reason: flows.ReasonClockSkew, Summary: "clue"}}},
		}}
	obs := FromResult(failed, map[string]string{"env": "staging", "region": "eu"}, t0.Add(time.Hour))
	if obs.OK || obs.Reason != "signing_key_not_found" || obs.Layer != "idp" || obs.Step != "token" || obs.Summary != "kid k2 not in JWKS" {
		t.Errorf("failure: %+v", obs)
	}
	if obs.NextStep == "" || len(obs.Evidence) != 1 || obs.Evidence[0] != (notify.Fact{Name: "kid", Value: "k2"}) {
		t.Errorf("next step %q, evidence %v", obs.NextStep, obs.Evidence)
	}
	if obs.RequestIDs["x-request-id"] != "b" || obs.RequestIDs["cf-ray"] != "c" {
		t.Errorf("request ids %v", obs.RequestIDs)
	}
	if obs.Labels["env"] != "staging" || obs.Labels["team"] != "iam" || obs.Labels["region"] != "eu" || failed.Labels["env"] != "prod" {
		t.Errorf("labels %v (result's: %v)", obs.Labels, failed.Labels)
	}
	if !obs.Time.Equal(start) {
		t.Errorf("time %s", obs.Time)
	}
	if len(obs.Warnings) != 1 || obs.Warnings[0].Reason != "tls_certificate_expiring" {
		t.Errorf("warnings %v (the clock_skew clue on a failed step is not one)", obs.Warnings)
	}

	ok := &flows.Result{Flow: "login", OK: true, Steps: []flows.StepResult{{Status: flows.StepPassed}}}
	if obs := FromResult(ok, nil, t0); !obs.OK || obs.Reason != "" || !obs.Time.Equal(t0) || obs.Labels != nil {
		t.Errorf("pass: %+v", obs)
	}
	if obs := FromResult(&flows.Result{Flow: "login", Cancelled: true}, nil, t0); !obs.Cancelled {
		t.Errorf("cancelled: %+v", obs)
	}
	if obs := FromResult(&flows.Result{Flow: "login"}, nil, t0); obs.OK || obs.Reason != "internal_error" {
		t.Errorf("failed without a failure: %+v", obs)
	}
}
