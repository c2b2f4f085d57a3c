package report

import (
	"encoding/json"
	"fmt"
	"time"
)

// claimValue shows a claim; NumericDates (exp, iat, nbf, auth_time) also in
// human form.
func claimValue(name string, v any) string {
	switch name {
	case "exp", "iat", "nbf", "auth_time":
		if secs, ok := numeric(v); ok {
			t := time.Unix(secs, 0).UTC()
			return fmt.Sprintf("%d (%s, %s)", secs, t.Format(time.RFC3339), relative(time.Until(t)))
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func numeric(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			return int64(f), ferr == nil
		}
		return i, true
	case int64:
		return n, true
	}
	return 0, false
}

func relative(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}
