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

// refusedCodes are the SQLSTATEs of a write that fails again however often
// it is tried, because of the data it carries: text PostgreSQL cannot hold
// and values out of a column's range or constraints. Not a unique or
// foreign-key violation (23505, 23503): those come from a race with
// another writer, which a later attempt may not meet.
var refusedCodes = map[string]bool{
	"22001": true, // string_data_right_truncation
	"22003": true, // numeric_value_out_of_range
	"22007": true, // invalid_datetime_format
	"22008": true, // datetime_field_overflow
	"22012": true, // division_by_zero
	"22021": true, // character_not_in_repertoire (NUL, invalid UTF-8)
	"22P02": true, // invalid_text_representation
	"22P05": true, // untranslatable_character
	"23502": true, // not_null_violation
	"23514": true, // check_violation
}

// markRefused marks a data error (refusedCodes) as store.ErrRefused.
func markRefused(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && refusedCodes[pgErr.Code] {
		return refusal{err}
	}
	return err
}
