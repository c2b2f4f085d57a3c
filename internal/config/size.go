package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ByteSize is a size written as text, as Prometheus's
// --storage.tsdb.retention.size takes it: a number and a unit, B, KB, MB,
// GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g.
// "512MiB", "2GiB", "1.5GB"; "0" is no bound.
type ByteSize struct {
	n   int64
	raw string
	err error
}

// Bytes makes a ByteSize of n bytes (for defaults and tests).
func Bytes(n int64) ByteSize { return ByteSize{n: n, raw: formatBytes(n)} }

var sizeUnits = map[string]float64{
	"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseByteSize reads a size (see ByteSize); units are case-insensitive.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("bad size %q: write e.g. 512MiB, 2GiB, 1GB", s)
	}
	mult := 1.0
	if unit != "" {
		m, ok := sizeUnits[strings.ToLower(unit)]
		if !ok {
			return 0, fmt.Errorf("bad size %q: unknown unit %q (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
		}
		mult = m
	} else if v != 0 {
		return 0, fmt.Errorf("bad size %q: give a unit, e.g. %sMiB or %sGB", s, num, num)
	}
	b := v * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(b), nil
}

func formatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	if n == 0 {
		return "0"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// UnmarshalYAML reads the size from its scalar node; a bad value is kept
// as the field's load error, reported with its position by validation.
func (b *ByteSize) UnmarshalYAML(node ast.Node) error {
	raw := ""
	if node != nil {
		if tk := node.GetToken(); tk != nil {
			raw = tk.Value
		}
	}
	*b = ByteSize{raw: raw}
	b.n, b.err = ParseByteSize(raw)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Int64 returns the number of bytes.
func (b ByteSize) Int64() int64 { return b.n }

func (b ByteSize) String() string {
	if b.raw != "" {
		return b.raw
	}
	return formatBytes(b.n)
}

// LoadErr is the error of a bad value (conf.LoadErrer).
func (b ByteSize) LoadErr() error { return b.err }
