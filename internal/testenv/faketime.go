package testenv

// Faketime returns the argv prefix that runs a command under libfaketime
// with its clock shifted by offset, e.g. Faketime("+2h") is
// {"faketime", "-f", "+2h"}. Pass it as the wrapper of NodeOIDCProvider or
// as NginxOptions.Wrapper; both Require faketime (Debian package faketime).
//
// offset is libfaketime's relative form: a sign, a number and a unit
// (s, m, h, d or y), e.g. "-2h" or "+90s". faketime cannot skew a Go
// program (Go reads the clock without libc): wrap a C or Node process.
func Faketime(offset string) []string {
	return []string{"faketime", "-f", offset}
}
