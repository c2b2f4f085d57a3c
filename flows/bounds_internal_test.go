package flows

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/authwatch/authwatch/internal/exchange"
)

// worstText grows sixfold when encoded in JSON.
func worstText(n int) string { return strings.Repeat("<", n) }

// worstResult is a run in which every field a target can fill is as large
// and as numerous as the steps could make it: steps-1 passing steps with
// notes, findings and measurements, then a failed one with facts, a
// token, and a redirect chain of exchanges with headers and bodies.
func worstResult(steps int) *Result {
	res := &Result{Flow: "worst"}
	for i := range steps {
		s := StepResult{ID: fmt.Sprintf("s%d", i), Kind: "http", Status: StepPassed}
		for j := range 40 {
			s.Notes = append(s.Notes, worstText(2<<10))
			s.Findings = append(s.Findings, Finding{Reason: ReasonClockSkew, Summary: worstText(2 << 10)})
			s.Measurements = append(s.Measurements, Measurement{Name: MeasureTLSExpiry, Host: worstText(1<<10) + fmt.Sprint(j)})
		}
		if i == steps-1 {
			s.Status = StepFailed
			s.Failure = worstFailure()
			s.Exchanges = s.Failure.Evidence.Exchanges
		}
		res.Steps = append(res.Steps, s)
	}
	return res
}

func worstFailure() *Failure {
	f := Fail(ReasonInvalidToken, "%s", worstText(1<<20))
	f.Next = worstText(1 << 20)
	claims := map[string]any{}
	for j := range 1000 {
		claims[fmt.Sprintf("c%d%s", j, worstText(100))] = map[string]any{"a": []any{worstText(1 << 10), map[string]any{"b": map[string]any{"c": map[string]any{"d": worstText(100)}}}}}
	}
	f.Evidence.Token = &TokenEvidence{Fingerprint: "sha256:0", Header: map[string]any{"kid": worstText(1 << 10)}, Claims: claims}
	for j := range 100 {
		f.Evidence.Facts = append(f.Evidence.Facts, Fact{Name: fmt.Sprintf("f%d", j), Value: worstText(10 << 10)})
	}
	for j := range 20 {
		h := map[string][]string{"Set-Cookie": nil}
		for k := range 1000 {
			h[fmt.Sprintf("X-H%d", k)] = []string{worstText(1 << 10)}
			h["Set-Cookie"] = append(h["Set-Cookie"], worstText(100))
		}
		f.Evidence.Exchanges = append(f.Evidence.Exchanges, ExchangeEvidence{Method: "GET", URL: worstText(200 << 10),
			RequestHeaders: h, ResponseHeaders: h, Body: worstText(64 << 10), RequestBody: worstText(64 << 10), Error: worstText(1 << 10),
			RequestIDs: map[string]string{"x-request-id": worstText(1 << 10)}, Status: 302 + j,
			TLS: &exchange.TLSInfo{Subject: worstText(1 << 10), Issuer: worstText(1 << 10), DNSNames: strings.Split(worstText(1000), "")}})
	}
	return f
}

// TestBoundResultWorstCase: however much every field holds, a run's step
// results take at most MaxRunEvidence plus 1 KiB per further step, as
// JSON, and stay valid UTF-8.
func TestBoundResultWorstCase(t *testing.T) {
	for _, steps := range []int{1, 2, 10, 200} {
		t.Run(fmt.Sprint(steps), func(t *testing.T) {
			res := worstResult(steps)
			boundResult(res)
			size, budget := evidenceSize(res.Steps), MaxRunEvidence+evidenceStepAllowance*(steps-1)
			if size > budget {
				t.Errorf("%d steps take %d bytes, want at most %d", steps, size, budget)
			}
			f := res.Steps[steps-1].Failure
			if f == nil || len(f.Evidence.Exchanges) == 0 || f.Evidence.Exchanges[len(f.Evidence.Exchanges)-1].Status != 321 {
				t.Errorf("the failed step lost its last exchange")
			}
			if !utf8.ValidString(f.Summary) || !strings.Contains(f.Summary, exchange.TruncatedMarker) {
				t.Errorf("summary %.80q", f.Summary)
			}
			t.Logf("%d steps: %d bytes", steps, size)
		})
	}
}

// BenchmarkBoundResult is what bounding adds to an ordinary run: two
// passing steps with a measurement, or a failure with one exchange.
func BenchmarkBoundResult(b *testing.B) {
	pass := func() *Result {
		return &Result{Flow: "b", Steps: []StepResult{
			{ID: "token", Kind: "client_credentials", Status: StepPassed, Measurements: []Measurement{{Name: MeasureTokenLifetime, Value: 300}}},
			{ID: "call", Kind: "http", Status: StepPassed}}}
	}
	fail := func() *Result {
		f := Fail(ReasonInvalidToken, "GET https://api.example.com/orders refused the token as invalid_token: %q", "expired")
		f.Evidence.Facts = []Fact{{Name: "status", Value: "401"}}
		ex := ExchangeEvidence{Method: "GET", URL: "https://api.example.com/orders", Status: 401,
			RequestHeaders:  map[string][]string{"Authorization": {"Bearer [redacted sha256:0123456789ab]"}},
			ResponseHeaders: map[string][]string{"Www-Authenticate": {`Bearer error="invalid_token"`}, "Content-Type": {"application/json"}, "Date": {"Sun, 01 Mar 2026 12:00:00 GMT"}},
			Body:            `{"error":"invalid_token","error_description":"expired"}`}
		f.Evidence.Exchanges = []ExchangeEvidence{ex}
		return &Result{Flow: "b", Steps: []StepResult{{ID: "call", Kind: "http", Status: StepFailed, Failure: f, Exchanges: f.Evidence.Exchanges}}}
	}
	for name, build := range map[string]func() *Result{"pass": pass, "fail": fail} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				boundResult(build())
			}
		})
	}
}

// TestEvidenceBoundNeverUnder: the bound that spares a passing run the
// encoding of its evidence is never under the encoded size, for fields of
// every worst kind (six-byte escapes, invalid UTF-8, line separators,
// extreme numbers) and a failing step, which has no bound.
func TestEvidenceBoundNeverUnder(t *testing.T) {
	texts := []string{"", "a", worstText(300), "\xff\xfe\x80", "\u2028\u2029", "é€𝄞", `"\` + "\x00\x1f"}
	numbers := []float64{0, -1.2345678901234567e-308, math.MaxFloat64, -math.SmallestNonzeroFloat64, 1e21, 123456789}
	for i, text := range texts {
		s := StepResult{ID: text, Kind: text, Status: StepStatus(text), HTTPStatus: math.MinInt}
		for j, v := range numbers {
			s.Notes = append(s.Notes, text)
			s.Findings = append(s.Findings, Finding{Reason: Reason(text), Summary: text, Facts: []Fact{{Name: text, Value: text}, {}}})
			s.Measurements = append(s.Measurements, Measurement{Name: text, Host: texts[(i+j)%len(texts)], Value: v})
		}
		for _, steps := range [][]StepResult{{}, {s}, {s, {}}, {{}, s, s}} {
			if bound, size := evidenceBound(steps), evidenceSize(steps); bound < size {
				t.Errorf("text %q, %d steps: bound %d under the encoded size %d", text, len(steps), bound, size)
			}
		}
	}
	// Each part alone, with nothing whose escapes would hide a short count.
	for _, v := range numbers {
		for _, steps := range [][]StepResult{
			{{HTTPStatus: math.MinInt}},
			{{Measurements: []Measurement{{Value: v}}}},
			{{Findings: []Finding{{Facts: []Fact{{}}}}}},
			{{Notes: []string{""}}},
		} {
			if bound, size := evidenceBound(steps), evidenceSize(steps); bound < size {
				t.Errorf("%+v: bound %d under the encoded size %d", steps, bound, size)
			}
		}
	}
	failed := []StepResult{{ID: "a"}, {ID: "b", Failure: Fail(ReasonTimeout, "x")}}
	if evidenceBound(failed) != math.MaxInt {
		t.Errorf("a failing step's evidence was bounded without being measured")
	}
}
