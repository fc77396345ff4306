package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxIDLen bounds every id, name and jti the store accepts.
const MaxIDLen = 256

// Time columns hold Unix milliseconds; NULL means the zero time.

func millis(t time.Time) int64 { return t.UnixMilli() }

func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMillis(v.Int64)
}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// encodeList stores a string list as a JSON array; nil and empty both become "[]".
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads a JSON array; an empty array reads back as nil.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// encodeMap stores a string map as a JSON object; nil and empty both become "{}".
func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// decodeMap reads a JSON object; an empty object reads back as nil.
func decodeMap(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// checkID rejects an empty or oversized key and text that PostgreSQL would
// refuse (see checkText).
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("store: %s: empty id: %w", what, ErrInvalid)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("store: %s: id longer than %d bytes: %w", what, MaxIDLen, ErrInvalid)
	}
	return checkText(what+" id", id)
}

// checkText rejects strings that are not valid UTF-8 or contain NUL. SQLite
// would store them, PostgreSQL TEXT would not: rejecting them on both engines
// keeps the engines interchangeable.
func checkText(field string, values ...string) error {
	for _, s := range values {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("store: %s: text is not valid UTF-8 or contains NUL: %w", field, ErrInvalid)
		}
	}
	return nil
}

func checkList(field string, l []string) error {
	for _, s := range l {
		if s == "" {
			return fmt.Errorf("store: %s: empty entry: %w", field, ErrInvalid)
		}
	}
	return checkText(field, l...)
}

func checkMap(field string, m map[string]string) error {
	for k, v := range m {
		if err := checkText(field, k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkNonNegative(field string, v int) error {
	if v < 0 {
		return fmt.Errorf("store: %s is negative (%d): %w", field, v, ErrInvalid)
	}
	return nil
}

// rowsAffected reports the number of rows a statement changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}
