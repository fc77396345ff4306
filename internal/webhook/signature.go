package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxSignatureHeader bounds the header Verify will parse. A real header is
// about 80 bytes; a few v1 values during a secret rotation stay far below.
const maxSignatureHeader = 4096

// Sign returns the X-Split-Signature header value for body signed with
// secret at time t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
// The Dispatcher uses it for every attempt; receivers can use it to build
// test requests.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a X-Split-Signature header against the raw request body: at
// least one v1 value must be the HMAC-SHA256 of "<t>.<body>" under secret,
// and t must be within tolerance of now (in either direction). A tolerance
// of zero or less disables the timestamp check, which leaves the receiver
// open to replays; five minutes is a sensible value.
//
// The error wraps ErrMalformedSignature, ErrSignatureMismatch or
// ErrStaleSignature. The signature is checked before the timestamp, so
// ErrStaleSignature means an authentic but old (or future) request.
func Verify(secret string, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return fmt.Errorf("%w: empty secret", ErrSignatureMismatch)
	}
	sig, err := parseSignature(header)
	if err != nil {
		return err
	}
	want := mac(secret, sig.rawT, body)
	ok := false
	for _, s := range sig.v1 {
		// Compare every value so the time taken does not depend on which matched.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	if tolerance > 0 {
		age := now.Sub(time.Unix(sig.t, 0))
		if age > tolerance || age < -tolerance {
			return fmt.Errorf("%w: timestamp %d, now %d", ErrStaleSignature, sig.t, now.Unix())
		}
	}
	return nil
}

// signature is a parsed X-Split-Signature header.
type signature struct {
	rawT string   // t exactly as sent: the signed bytes
	t    int64    // rawT as unix seconds
	v1   [][]byte // decoded v1 MACs
}

// parseSignature splits "t=<unix>,v1=<hex>[,v1=<hex>...]". Elements are
// separated by ",", may be surrounded by spaces, and are "key=value";
// unknown keys are ignored so that a later scheme (v2) can be sent alongside
// v1. Exactly one t (decimal digits only) and at least one v1 (64 hex
// digits) are required.
func parseSignature(h string) (signature, error) {
	var sig signature
	if len(h) > maxSignatureHeader {
		return sig, fmt.Errorf("%w: longer than %d bytes", ErrMalformedSignature, maxSignatureHeader)
	}
	haveT := false
	for el := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(el), "=")
		if !ok {
			return sig, fmt.Errorf("%w: element %q is not key=value", ErrMalformedSignature, el)
		}
		switch k {
		case "t":
			if haveT {
				return sig, fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			n, err := parseUnix(v)
			if err != nil {
				return sig, err
			}
			sig.rawT, sig.t, haveT = v, n, true
		case "v1":
			if len(v) != 2*sha256.Size {
				return sig, fmt.Errorf("%w: v1 is not %d hex digits", ErrMalformedSignature, 2*sha256.Size)
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return sig, fmt.Errorf("%w: v1 is not hex", ErrMalformedSignature)
			}
			sig.v1 = append(sig.v1, b)
		}
	}
	if !haveT {
		return sig, fmt.Errorf("%w: no t", ErrMalformedSignature)
	}
	if len(sig.v1) == 0 {
		return sig, fmt.Errorf("%w: no v1", ErrMalformedSignature)
	}
	return sig, nil
}

// parseUnix accepts only plain decimal digits (no sign, no spaces, at most
// 18 so the value fits an int64).
func parseUnix(v string) (int64, error) {
	if v == "" || len(v) > 18 {
		return 0, fmt.Errorf("%w: t is not a unix time", ErrMalformedSignature)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, fmt.Errorf("%w: t is not a unix time", ErrMalformedSignature)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: t is not a unix time", ErrMalformedSignature)
	}
	return n, nil
}
