package postgres

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authwatch/authwatch/internal/store"
)

// PostgreSQL's text refuses NUL and invalid UTF-8 (SQLSTATE 22021) where
// SQLite keeps any bytes, and what the store is given quotes targets and
// receivers: a Latin-1 error_description, an error body with a NUL. Every
// string written goes through textArgs, so such a run or outbox mark is
// stored with the bytes replaced by U+FFFD rather than refused.

// textArgs replaces each string of args by storableText of it, in place,
// and returns args.
func textArgs(args ...any) []any {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = storableText(s)
		}
	}
	return args
}

// storableText is s as valid UTF-8 without NUL: every invalid byte and
// every NUL becomes U+FFFD.
func storableText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// refusal marks err as store.ErrRefused while keeping its message and
// what it wraps.
type refusal struct{ err error }

func (r refusal) Error() string        { return r.err.Error() }
func (r refusal) Unwrap() error        { return r.err }
func (r refusal) Is(target error) bool { return target == store.ErrRefused }

// markRefused marks a data error (SQLSTATE class 22, data exception, or
// 23, integrity constraint violation) as store.ErrRefused: the same write
// fails again however often it is tried.
func markRefused(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		return refusal{err}
	}
	return err
}
