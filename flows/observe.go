package flows

import (
	"math"
	"net/http"
	"time"

	"github.com/authwatch/authwatch/internal/exchange"
)

// defaultTLSExpiryWarning is the horizon of tls_certificate_expiring.
const defaultTLSExpiryWarning = 14 * 24 * time.Hour

// observeExchanges adds the findings any exchange can show, whatever the
// step: a server clock that is off, a certificate about to expire.
func (r *Runner) observeExchanges(st *State, exs []*exchange.Exchange) {
	for _, ex := range exs {
		off, ok := clockOffset(ex)
		if ok {
			st.Measure(MeasureClockOffset, ex.URL.Host, off.Seconds())
		}
		if ok && math.Abs(off.Seconds()) > st.Skew().Seconds() {
			st.Finding(ReasonClockSkew, "%s's clock is %s %s this host's (Date: %s); allowed skew is %s",
				ex.URL.Host, roundDur(absDur(off)), aheadBehind(off), ex.ResponseHeader.Get("Date"), st.Skew())
		}
		if ex.TLS != nil {
			horizon := r.tlsExpiryWarning(st)
			left := ex.TLS.NotAfter.Sub(r.now())
			st.Measure(MeasureTLSExpiry, ex.URL.Host, left.Seconds())
			if left > 0 && left < horizon {
				st.Finding(ReasonTLSCertificateExpiring, "the certificate of %s (%s) expires in %s, at %s",
					ex.URL.Host, ex.TLS.Subject, roundDur(left), ex.TLS.NotAfter.UTC().Format(time.RFC3339))
			}
		}
	}
}

// tlsExpiryWarning is the horizon of tls_certificate_expiring for the
// current step: its own, else its flow's, else the daemon's, else 14 days.
func (r *Runner) tlsExpiryWarning(st *State) time.Duration {
	for _, d := range []time.Duration{st.step.spec.TLSExpiryWarning, st.Flow.TLSExpiryWarning.Std(), r.TLSExpiryWarning} {
		if d > 0 {
			return d
		}
	}
	return defaultTLSExpiryWarning
}

// clockOffset is the server's clock minus ours, from the Date header. Date
// has one-second resolution, so the offset is only meaningful beyond that.
func clockOffset(ex *exchange.Exchange) (time.Duration, bool) {
	if ex.ResponseHeader == nil {
		return 0, false
	}
	date, err := http.ParseTime(ex.ResponseHeader.Get("Date"))
	if err != nil {
		return 0, false
	}
	// The server stamped Date between our send and first byte.
	local := ex.Start.Add(ex.Timings.FirstByte / 2)
	if ex.Timings.FirstByte == 0 {
		local = ex.Start
	}
	return date.Sub(local.Truncate(time.Second)), true
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func aheadBehind(off time.Duration) string {
	if off > 0 {
		return "ahead of"
	}
	return "behind"
}

// roundDur shows a duration the way a person reads it.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
