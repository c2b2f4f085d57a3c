package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authwatch/authwatch/flows"
)

// marshalLine is the reference: what encoding/json's Encoder writes.
func marshalLine(t testing.TB, v any) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

type appender interface{ appendJSON([]byte) ([]byte, error) }

// findingAppender gives a finding, which cannot fail, the appender's shape.
type findingAppender struct{ f *FindingJSON }

func (a findingAppender) appendJSON(b []byte) ([]byte, error) { return a.f.appendJSON(b), nil }

// sameAsEncodingJSON fails unless a appends what encoding/json encodes for
// v, or both refuse it: the same keys in the same order with the same
// values, compared as decoded tokens (toolchains spell some things their
// own way: Go 1.27 writes an invalid UTF-8 byte as a raw U+FFFD, 1.26 as
// \ufffd), and HTML-safe as encoding/json's is: valid UTF-8 with no raw <,
// >, &, U+2028, U+2029 or control byte.
func sameAsEncodingJSON(t *testing.T, v any, a appender) {
	t.Helper()
	want, wantErr := marshalLine(t, v)
	got, err := a.appendJSON([]byte("prefix"))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, encoding/json's %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("appended over what was there: %q", got)
	}
	got = got[len("prefix"):]
	if !utf8.Valid(got) || bytes.ContainsAny(got, "<>&\u2028\u2029") || bytes.ContainsFunc(got, func(r rune) bool { return r < 0x20 }) {
		t.Fatalf("not HTML-safe JSON: %q", got)
	}
	if !slices.Equal(jsonTokens(t, got), jsonTokens(t, want)) {
		t.Fatalf("appended\n%s\nencoding/json\n%s", got, want)
	}
}

// jsonTokens is b's one JSON value as its tokens: delimiters, keys and
// values (numbers as float64) in order.
func jsonTokens(t *testing.T, b []byte) []any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var toks []any
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return toks
		}
		if err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		toks = append(toks, tok)
	}
}

// fill sets every field reachable from v to a value that is not its zero,
// so that a field the appenders do not know is seen: slices get two
// elements, maps two entries, pointers a filled value.
func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(len(s)) + 401)
	case reflect.Float64:
		v.SetFloat(float64(len(s)) + 0.125)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), s)
		v.Set(p)
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 2, 2)
		fill(sl.Index(0), s+"<0>")
		fill(sl.Index(1), s+"&1")
		v.Set(sl)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b" + s, "a" + s} {
			key := reflect.New(v.Type().Key()).Elem()
			fill(key, k)
			val := reflect.New(v.Type().Elem()).Elem()
			if val.Kind() == reflect.Interface {
				val.Set(reflect.ValueOf(k + " value"))
			} else {
				fill(val, k)
			}
			m.SetMapIndex(key, val)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), s+"."+v.Type().Field(i).Name)
			}
		}
	}
}

func TestAppendMatchesEncodingJSONOnEveryField(t *testing.T) {
	var step StepJSON
	fill(reflect.ValueOf(&step).Elem(), "step \"é\" <b> & \u2028")
	sameAsEncodingJSON(t, step, &step)
	var flow FlowJSON
	fill(reflect.ValueOf(&flow).Elem(), "flow\t\x01\xff")
	sameAsEncodingJSON(t, flow, &flow)
	var finding FindingJSON
	fill(reflect.ValueOf(&finding).Elem(), "finding")
	sameAsEncodingJSON(t, finding, findingAppender{&finding})

	// Every field was set: each must show in the encoding.
	for name, v := range map[string]any{"StepJSON": step, "FlowJSON": flow, "FindingJSON": finding} {
		b, _ := marshalLine(t, v)
		var fields map[string]any
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		if n := reflect.TypeOf(v).NumField(); len(fields) != n {
			t.Errorf("%s: %d of its %d fields encoded: fill missed one", name, len(fields), n)
		}
	}
}

func TestAppendMatchesEncodingJSONOnZeroAndEmpty(t *testing.T) {
	no := false
	for _, step := range []StepJSON{{}, {OK: &no, Findings: []FindingJSON{}, Notes: []string{}, Measurements: []flows.Measurement{}},
		{Evidence: &flows.Evidence{}, Findings: []FindingJSON{{Facts: []flows.Fact{}}}}} {
		sameAsEncodingJSON(t, step, &step)
	}
	for _, flow := range []FlowJSON{{}, {OK: &no, Labels: map[string]string{}}, {Labels: map[string]string{"": ""}}} {
		sameAsEncodingJSON(t, flow, &flow)
	}
}

func TestAppendFloatsAsEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 1e-6, 9.99e-7, 1e-7, -1e-7, 1e20, 1e21, 1.5e300, -1e21,
		math.SmallestNonzeroFloat64, math.MaxFloat64, 123456.789, 1e-10, math.NaN(), math.Inf(1), math.Inf(-1)} {
		step := StepJSON{DurationMS: f}
		sameAsEncodingJSON(t, step, &step)
		step = StepJSON{Measurements: []flows.Measurement{{Name: "m", Value: f}}}
		sameAsEncodingJSON(t, step, &step)
		flow := FlowJSON{DurationMS: f}
		sameAsEncodingJSON(t, flow, &flow)
	}
}

// A record that cannot be encoded (a NaN measurement) ends the lines
// there, as the Encoder did: the lines before it are whole.
func TestAppendJSONStopsAtARecordItCannotEncode(t *testing.T) {
	r := &flows.Result{Flow: "f", Start: time.Unix(0, 0), Steps: []flows.StepResult{
		{ID: "a", Kind: "http", Status: flows.StepPassed},
		{ID: "b", Kind: "http", Status: flows.StepPassed, Measurements: []flows.Measurement{{Name: "m", Value: math.NaN()}}},
	}}
	var buf bytes.Buffer
	err := JSON(&buf, r)
	if err == nil {
		t.Fatal("a NaN measurement was encoded")
	}
	if lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); len(lines) != 1 || !json.Valid([]byte(lines[0])) {
		t.Fatalf("want the first step's line alone, got %q", buf.String())
	}
}

func FuzzAppendMatchesEncodingJSON(f *testing.F) {
	f.Add("flow", "summary <b>", 12.5, 200, true)
	f.Add("\xff\xfe", "\u2028\u2029\x00\x1f\\\"", 1e-7, -1, false)
	f.Add("", "", 1e21, 0, false)
	f.Fuzz(func(t *testing.T, a, b string, x float64, n int, ok bool) {
		step := StepJSON{Type: a, Flow: b, Step: a + b, Kind: b, OK: &ok, Status: flows.StepStatus(a), Reason: flows.Reason(b),
			Layer: flows.Layer(a), Summary: b, NextStep: a, HTTPStatus: n, DurationMS: x, RetryAfter: b,
			Findings: []FindingJSON{{Reason: flows.Reason(a), Layer: flows.Layer(b), Warning: ok, Summary: a,
				Facts: []flows.Fact{{Name: a, Value: b}}}},
			Notes:        []string{a, b},
			Evidence:     &flows.Evidence{Facts: []flows.Fact{{Name: b, Value: a}}},
			Measurements: []flows.Measurement{{Name: a, Host: b, Value: x}, {Name: b, Value: -x}}}
		sameAsEncodingJSON(t, step, &step)
		flow := FlowJSON{Type: b, Flow: a, Status: flows.StepStatus(b), Cancelled: ok, Reason: flows.Reason(a), Summary: b,
			FailedStep: a, Labels: map[string]string{a: b, b: a, a + b: ""}, Start: a, DurationMS: x, Steps: n, Warnings: -n}
		if !ok {
			flow.OK = &ok
		}
		sameAsEncodingJSON(t, flow, &flow)
	})
}

func BenchmarkJSON(b *testing.B) {
	r := &flows.Result{Flow: "bench-cc-00000", Start: time.Unix(1_700_000_000, 0), Duration: 3 * time.Millisecond, Steps: []flows.StepResult{
		{ID: "token", Kind: "client_credentials", Status: flows.StepPassed, HTTPStatus: 200, Duration: 2 * time.Millisecond,
			Measurements: []flows.Measurement{{Name: "token_lifetime_seconds", Value: 3600}}},
		{ID: "api", Kind: "http", Status: flows.StepPassed, HTTPStatus: 200, Duration: time.Millisecond},
	}}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf, _ = AppendJSON(buf[:0], r)
	}
}
