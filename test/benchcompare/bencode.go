package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Bencode, as rtpengine's ng control protocol speaks it: strings, integers,
// lists and dictionaries (keys sorted).

func bencode(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(strconv.Itoa(len(x)))
		b.WriteByte(':')
		b.WriteString(x)
	case int:
		fmt.Fprintf(b, "i%de", x)
	case []string:
		b.WriteByte('l')
		for _, s := range x {
			bencode(b, s)
		}
		b.WriteByte('e')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('d')
		for _, k := range keys {
			bencode(b, k)
			bencode(b, x[k])
		}
		b.WriteByte('e')
	default:
		panic(fmt.Sprintf("bencode: %T", v))
	}
}

var errBencode = errors.New("bencode: malformed")

// bdecode decodes one value from s and returns the rest.
func bdecode(s []byte) (any, []byte, error) {
	if len(s) == 0 {
		return nil, nil, errBencode
	}
	switch c := s[0]; {
	case c == 'i':
		e := bytes.IndexByte(s, 'e')
		if e < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.Atoi(string(s[1:e]))
		return n, s[e+1:], err
	case c == 'l':
		var out []any
		s = s[1:]
		for len(s) > 0 && s[0] != 'e' {
			v, rest, err := bdecode(s)
			if err != nil {
				return nil, nil, err
			}
			out, s = append(out, v), rest
		}
		if len(s) == 0 {
			return nil, nil, errBencode
		}
		return out, s[1:], nil
	case c == 'd':
		out := map[string]any{}
		s = s[1:]
		for len(s) > 0 && s[0] != 'e' {
			k, rest, err := bdecode(s)
			if err != nil {
				return nil, nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, nil, errBencode
			}
			v, rest, err := bdecode(rest)
			if err != nil {
				return nil, nil, err
			}
			out[ks], s = v, rest
		}
		if len(s) == 0 {
			return nil, nil, errBencode
		}
		return out, s[1:], nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(s, ':')
		if colon < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.Atoi(string(s[:colon]))
		if err != nil || n < 0 || colon+1+n > len(s) {
			return nil, nil, errBencode
		}
		return string(s[colon+1 : colon+1+n]), s[colon+1+n:], nil
	}
	return nil, nil, errBencode
}
