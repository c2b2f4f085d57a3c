package challenge

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []Challenge
		wantErr bool
	}{
		{name: "nil input", in: nil, want: nil},
		{name: "empty value", in: []string{""}, want: nil},
		{name: "bare scheme", in: []string{"NTLM"}, want: []Challenge{{Scheme: "NTLM"}}},
		{
			name: "basic realm",
			in:   []string{`Basic realm="WallyWorld"`},
			want: []Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "WallyWorld"}}},
		},
		{
			name: "RFC 6750 §3 example",
			in:   []string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{
				"realm": "example", "error": "invalid_token", "error_description": "The access token expired",
			}}},
		},
		{
			name: "several schemes in one header",
			in:   []string{`Basic realm="x", Bearer realm="y", error="invalid_token"`},
			want: []Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "x"}},
				{Scheme: "Bearer", Params: map[string]string{"realm": "y", "error": "invalid_token"}},
			},
		},
		{
			name: "several header values",
			in:   []string{`Basic realm=x`, `Negotiate`, `Bearer`},
			want: []Challenge{
				{Scheme: "Basic", Params: map[string]string{"realm": "x"}},
				{Scheme: "Negotiate"}, {Scheme: "Bearer"},
			},
		},
		{name: "token68 with padding", in: []string{"Negotiate abc=="}, want: []Challenge{{Scheme: "Negotiate", Token68: "abc=="}}},
		{name: "token68 single pad", in: []string{"Negotiate YII+/x="}, want: []Challenge{{Scheme: "Negotiate", Token68: "YII+/x="}}},
		{
			name: "token68 then another challenge",
			in:   []string{"Negotiate abc , Basic realm=r"},
			want: []Challenge{{Scheme: "Negotiate", Token68: "abc"}, {Scheme: "Basic", Params: map[string]string{"realm": "r"}}},
		},
		{
			name: "escapes and commas inside quotes",
			in:   []string{`Bearer realm="a \"b\", c\\d", error_description="x, y=z"`},
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": `a "b", c\d`, "error_description": "x, y=z"}}},
		},
		{
			name: "empty list elements",
			in:   []string{` , Basic realm=x ,, , Bearer ,`},
			want: []Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "x"}}, {Scheme: "Bearer"}},
		},
		{
			name: "whitespace around equals",
			in:   []string{"Bearer realm = \"x\" ,\tscope=\t\"a b\""},
			want: []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "x", "scope": "a b"}}},
		},
		{
			name: "tab after scheme, names lower-cased, scheme kept",
			in:   []string{"BEARER\tREALM=\"x\""},
			want: []Challenge{{Scheme: "BEARER", Params: map[string]string{"realm": "x"}}},
		},
		{
			name:    "param without scheme",
			in:      []string{`realm="x", Basic`},
			want:    []Challenge{{Scheme: "Basic"}},
			wantErr: true,
		},
		{name: "garbage", in: []string{"@@@ ;;;"}, want: nil, wantErr: true},
		{name: "quote where scheme expected", in: []string{`"Basic" realm=x`}, want: nil, wantErr: true},
		{
			name:    "quote where parameter expected",
			in:      []string{`Basic "x", Bearer`},
			want:    []Challenge{{Scheme: "Basic"}, {Scheme: "Bearer"}},
			wantErr: true,
		},
		{
			name:    "unterminated quote keeps what was read",
			in:      []string{`Bearer realm="abc`},
			want:    []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "abc"}}},
			wantErr: true,
		},
		{
			name: "unterminated quote does not swallow the next header",
			in:   []string{`Bearer realm="abc, Basic x=y`, `Basic realm=y`},
			want: []Challenge{
				{Scheme: "Bearer", Params: map[string]string{"realm": "abc, Basic x=y"}},
				{Scheme: "Basic", Params: map[string]string{"realm": "y"}},
			},
			wantErr: true,
		},
		{
			name:    "duplicate param keeps first",
			in:      []string{`Bearer error="invalid_token", ERROR="insufficient_scope"`},
			want:    []Challenge{{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}}},
			wantErr: true,
		},
		{
			name:    "param after token68 is dropped",
			in:      []string{"Negotiate abc, realm=x"},
			want:    []Challenge{{Scheme: "Negotiate", Token68: "abc"}},
			wantErr: true,
		},
		{
			name:    "control characters dropped",
			in:      []string{"Bearer realm=\"a\x01b\r\nc\x7f\""},
			want:    []Challenge{{Scheme: "Bearer", Params: map[string]string{"realm": "abc"}}},
			wantErr: true,
		},
		{
			name:    "param without value",
			in:      []string{`Bearer realm=, error=x`},
			want:    []Challenge{{Scheme: "Bearer", Params: map[string]string{"error": "x"}}},
			wantErr: true,
		},
		{
			name:    "junk after a param is skipped to the next comma",
			in:      []string{`Basic realm="x" junk "a,b", charset=UTF-8`},
			want:    []Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "x", "charset": "UTF-8"}}},
			wantErr: true,
		},
		{
			name: "obs-text kept",
			in:   []string{"Basic realm=\"caf\xc3\xa9\""},
			want: []Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "café"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name     string
		in       []string
		wantN    int // challenges
		wantPars int // params of the first challenge
		wantMsg  string
	}{
		{
			name:    "too many challenges",
			in:      []string{strings.Repeat("Basic, ", MaxChallenges+10)},
			wantN:   MaxChallenges,
			wantMsg: "more than 64 challenges",
		},
		{
			name:     "too many params",
			in:       []string{"Bearer " + manyParams(MaxParams+5)},
			wantN:    1,
			wantPars: MaxParams,
			wantMsg:  "more than 64 auth-params",
		},
		{
			name:    "input cap across values",
			in:      []string{"Basic", strings.Repeat(" ", MaxInput), "Bearer"},
			wantN:   1,
			wantMsg: "longer than 64 KiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(se.Msg, tt.wantMsg) {
				t.Fatalf("error = %v, want a *SyntaxError containing %q", err, tt.wantMsg)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d challenges, want %d", len(got), tt.wantN)
			}
			if tt.wantPars > 0 && len(got[0].Params) != tt.wantPars {
				t.Errorf("got %d params, want %d", len(got[0].Params), tt.wantPars)
			}
		})
	}
}

func manyParams(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "p" + strings.Repeat("x", i) + "=v"
	}
	return strings.Join(parts, ", ")
}

func TestSyntaxErrorPosition(t *testing.T) {
	_, err := Parse([]string{"Basic realm=x", `Bearer realm="x" @`})
	want := &SyntaxError{Header: 1, Offset: 17, Msg: "unexpected character"}
	if !reflect.DeepEqual(err, want) {
		t.Fatalf("err = %#v, want %#v", err, want)
	}
	if got := err.Error(); got != "www-authenticate: header 1, byte 17: unexpected character" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFindAndParam(t *testing.T) {
	chs, _ := Parse([]string{`Basic realm="b", bearer Realm="y", error="invalid_token"`})
	tests := []struct {
		name   string
		scheme string
		param  string
		found  bool
		want   string
	}{
		{name: "exact case", scheme: "Basic", param: "realm", found: true, want: "b"},
		{name: "scheme case-insensitive", scheme: "BEARER", param: "ERROR", found: true, want: "invalid_token"},
		{name: "missing param", scheme: "Bearer", param: "scope", found: true, want: ""},
		{name: "missing scheme", scheme: "Digest", param: "realm", found: false},
		{name: "no unicode folding", scheme: "Ba\u017fic", param: "realm", found: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := Find(chs, tt.scheme)
			if ok != tt.found {
				t.Fatalf("Find(%q) ok = %v, want %v", tt.scheme, ok, tt.found)
			}
			if got := c.Param(tt.param); got != tt.want {
				t.Errorf("Param(%q) = %q, want %q", tt.param, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   Challenge
		want string
	}{
		{name: "bare", in: Challenge{Scheme: "NTLM"}, want: "NTLM"},
		{name: "token68", in: Challenge{Scheme: "Negotiate", Token68: "abc=="}, want: "Negotiate abc=="},
		{
			name: "sorted, tokens bare, others quoted",
			in:   Challenge{Scheme: "Bearer", Params: map[string]string{"realm": "r", "error": "invalid_token", "scope": "a b"}},
			want: `Bearer error=invalid_token, realm=r, scope="a b"`,
		},
		{
			name: "escapes",
			in:   Challenge{Scheme: "Basic", Params: map[string]string{"realm": `a"b\c`, "x": ""}},
			want: `Basic realm="a\"b\\c", x=""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
