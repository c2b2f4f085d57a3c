package incident

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

func TestMatchers(t *testing.T) {
	labels := map[string]string{"flow": "okta-login", "team": "iam", "reason": "token_expired"}
	tests := []struct {
		name string
		m    Matchers
		want bool
	}{
		{"none match everything", nil, true},
		{"equal", Matchers{"team": "iam"}, true},
		{"all must match", Matchers{"team": "iam", "flow": "other"}, false},
		{"empty matches a missing label", Matchers{"env": ""}, true},
		{"empty does not match a present label", Matchers{"team": ""}, false},
		{"regexp", Matchers{"reason": "~token_.*"}, true},
		{"regexp is anchored", Matchers{"flow": "~okta"}, false},
		{"regexp alternatives stay anchored", Matchers{"flow": "~x|okta"}, false},
		{"regexp alternatives", Matchers{"flow": "~x|okta-.*"}, true},
		{"regexp on a missing label", Matchers{"env": "~prod|"}, true},
		{"bad regexp never matches", Matchers{"flow": "~("}, false},
		{"wrapping does not repair a bad regexp", Matchers{"flow": "~x)|(okta-login"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Matches(labels); got != tc.want {
				t.Errorf("Matches = %t, want %t", got, tc.want)
			}
		})
	}
}

func TestMaintenanceWindowCron(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse("Mon 2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	_, tzErr := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name   string
		w      MaintenanceWindow
		now    time.Time
		active bool
		since  string
	}{
		{"sunday 02:00 for 2h: before", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour)}, at("Sun 2026-03-08 01:59"), false, ""},
		{"sunday 02:00 for 2h: at the start", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour)}, at("Sun 2026-03-08 02:00"), true, "Sun 2026-03-08 02:00"},
		{"sunday 02:00 for 2h: inside", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour)}, at("Sun 2026-03-08 03:59"), true, "Sun 2026-03-08 02:00"},
		{"sunday 02:00 for 2h: at the end", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour)}, at("Sun 2026-03-08 04:00"), false, ""},
		{"sunday 02:00 for 2h: a weekday", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour)}, at("Wed 2026-03-11 03:00"), false, ""},
		{"saturday 23:00 for 4h crosses into sunday", MaintenanceWindow{Cron: "0 23 * * SAT", Duration: conf.Dur(4 * time.Hour)}, at("Sun 2026-03-08 02:30"), true, "Sat 2026-03-07 23:00"},
		{"saturday 23:00 for 4h: over on sunday 03:00", MaintenanceWindow{Cron: "0 23 * * SAT", Duration: conf.Dur(4 * time.Hour)}, at("Sun 2026-03-08 03:00"), false, ""},
		{"saturday 23:00 for 4h: friday before", MaintenanceWindow{Cron: "0 23 * * SAT", Duration: conf.Dur(4 * time.Hour)}, at("Fri 2026-03-06 23:30"), false, ""},
		{"sunday 22:00 for 6h crosses into the next week and year", MaintenanceWindow{Cron: "0 22 * * SUN", Duration: conf.Dur(6 * time.Hour)}, at("Mon 2029-01-01 03:00"), true, "Sun 2028-12-31 22:00"},
		{"weekly window longer than a week is always on", MaintenanceWindow{Cron: "0 2 * * SUN", Duration: conf.Dur(8 * 24 * time.Hour)}, at("Sat 2026-03-14 12:00"), true, "Sun 2026-03-08 02:00"},
		{"@weekly", MaintenanceWindow{Cron: "@weekly", Duration: conf.Dur(time.Hour)}, at("Sun 2026-03-08 00:30"), true, "Sun 2026-03-08 00:00"},
		{"CRON_TZ: 02:00 Berlin is 01:00 UTC in winter", MaintenanceWindow{Cron: "CRON_TZ=Europe/Berlin 0 2 * * SUN", Duration: conf.Dur(time.Hour)}, at("Sun 2026-03-08 01:30"), true, "Sun 2026-03-08 01:00"},
		{"bad cron is never active", MaintenanceWindow{Cron: "0 2 * *", Duration: conf.Dur(time.Hour)}, at("Sun 2026-03-08 02:30"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.w.Cron, "CRON_TZ") && tzErr != nil {
				t.Skip("no time zone data:", tzErr)
			}
			since, ok := tc.w.ActiveSince(tc.now)
			if ok != tc.active {
				t.Fatalf("active = %t, want %t (since %s)", ok, tc.active, since)
			}
			if ok && !since.Equal(at(tc.since)) {
				t.Errorf("since %s, want %s", since, tc.since)
			}
		})
	}
}

func TestMutes(t *testing.T) {
	now := time.Date(2026, 3, 8, 2, 30, 0, 0, time.UTC) // a Sunday
	m := Mutes{
		Silences: []Silence{{Matchers: Matchers{"reason": "~jwks_.*"}, Until: now.Add(time.Hour), Comment: "IdP rotating keys (ana)"}},
		Windows:  []MaintenanceWindow{{Matchers: Matchers{"team": "iam"}, Cron: "0 2 * * SUN", Duration: conf.Dur(2 * time.Hour), Comment: "IdP patching"}},
	}
	tests := []struct {
		name   string
		labels map[string]string
		now    time.Time
		by     string
	}{
		{"silence", map[string]string{"reason": "jwks_unavailable"}, now, "silences[0] until 2026-03-08T03:30:00Z: IdP rotating keys (ana)"},
		{"silence over", map[string]string{"reason": "jwks_unavailable"}, now.Add(time.Hour), ""},
		{"silence does not match", map[string]string{"reason": "timeout"}, now, ""},
		{"window", map[string]string{"team": "iam"}, now, `maintenance_windows[0] "0 2 * * SUN" from 2026-03-08T02:00:00Z for 2h0m0s: IdP patching`},
		{"window over", map[string]string{"team": "iam"}, now.Add(2 * time.Hour), ""},
		{"window does not match", map[string]string{"team": "web"}, now, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			muted, by := m.Muted(tc.labels, tc.now)
			if muted != (tc.by != "") || by != tc.by {
				t.Errorf("Muted = %t, %q; want %q", muted, by, tc.by)
			}
		})
	}
}

// A maintenance window withholds the Opened of an incident that opens
// inside it; the first tick after it ends sends it.
func TestStepWithMaintenanceWindow(t *testing.T) {
	m := Mutes{Windows: []MaintenanceWindow{{Matchers: Matchers{"flow": "login"}, Cron: "0 23 * * SAT", Duration: conf.Dur(4 * time.Hour)}}}
	sat := time.Date(2026, 3, 7, 23, 0, 0, 0, time.UTC)
	p := noFlap(DefaultPolicy())
	var st State
	var evs []notify.Event
	for i, at := range []time.Duration{10 * time.Minute, 20 * time.Minute, 3*time.Hour + 59*time.Minute} {
		now := sat.Add(at)
		st, evs = Step(p, st, withTime(*fail("timeout"), now), now, m)
		if len(evs) != 0 {
			t.Fatalf("run %d inside the window sent %v", i, showAll(evs))
		}
	}
	if !st.Suppressed || !strings.HasPrefix(st.MutedBy, "maintenance_windows[0]") {
		t.Errorf("suppressed=%t muted_by=%q", st.Suppressed, st.MutedBy)
	}
	st, evs = Tick(p, st, sat.Add(4*time.Hour), m)
	if got := showAll(evs); len(got) != 1 || got[0] != "opened timeout" {
		t.Fatalf("after the window: %v", got)
	}
	if evs[0].IncidentKey != "authwatch/login/"+strconv.FormatInt(sat.Add(20*time.Minute).Unix(), 10) {
		t.Errorf("key %q: want the time the incident opened", evs[0].IncidentKey)
	}
	if st.Suppressed || st.MutedBy != "" {
		t.Errorf("suppressed=%t muted_by=%q after sending", st.Suppressed, st.MutedBy)
	}
}

func TestMutesValidate(t *testing.T) {
	m := Mutes{
		Silences: []Silence{
			{Matchers: Matchers{"flow": "login"}, Until: t0, Comment: "ok"},
			{},
			{Matchers: Matchers{"reason": "~token_(", "": "x", "severity": "page"}, Until: t0, Comment: " "},
		},
		Windows: []MaintenanceWindow{
			{Matchers: Matchers{"flow": "~.*"}, Cron: "0 2 * * SUN", Duration: conf.Dur(time.Hour)},
			{Matchers: Matchers{"flow": "~.*"}, Cron: "0 2 * *"},
			{Matchers: Matchers{"flow": "~.*"}, Cron: "@every 1h", Duration: conf.Dur(time.Hour)},
		},
	}
	want := strings.Join([]string{
		`silences[1].matchers: a silence needs at least one matcher (for every flow, write flow: "~.*")`,
		`silences[1].until: must be set: when the silence ends, as RFC 3339 (e.g. 2026-05-01T18:00:00Z)`,
		`silences[1].comment: must say who silenced what and why (a silence nobody can explain outlives the reason for it)`,
		`silences[2].matchers: a matcher needs a label name`,
		"silences[2].matchers.reason: bad regular expression after ~: error parsing regexp: missing closing ): `token_(`",
		`silences[2].matchers.severity: must be one of critical, warning, info (or ~regexp), got "page"`,
		`silences[2].comment: must say who silenced what and why (a silence nobody can explain outlives the reason for it)`,
		`maintenance_windows[1].cron: bad schedule "0 2 * *": expected exactly 5 fields, found 4: [0 2 * *]; write 5 fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * SUN"`,
		`maintenance_windows[1].duration: must be positive (how long each window lasts, e.g. 2h), got 0s`,
		`maintenance_windows[2].cron: "@every 1h" has no calendar start: write 5 fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * SUN"`,
	}, "\n")
	err := m.Validate()
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	if err := (Mutes{Silences: m.Silences[:1], Windows: m.Windows[:1]}).Validate(); err != nil {
		t.Errorf("valid mutes: %v", err)
	}
}
