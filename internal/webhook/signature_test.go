package webhook

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test vector published in docs/webhooks.md.
const (
	vectorSecret = "whsec_test"
	vectorBody   = `{"id":"evt_1","type":"session.created","created_at":"2026-01-01T00:00:00Z","session_id":"ses_1","data":null}`
	vectorHeader = "t=1767225600,v1=20f0ddae51e338fd96d77542a0f2dec13694cf40097da88b91cdbb116cb9131b"
)

func TestSignMatchesDocumentedVector(t *testing.T) {
	t.Parallel()
	if got := Sign(vectorSecret, []byte(vectorBody), time.Unix(1767225600, 0)); got != vectorHeader {
		t.Fatalf("Sign = %q, want %q", got, vectorHeader)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(vectorBody)
	signedAt := time.Unix(1767225600, 0)
	good := Sign(vectorSecret, body, signedAt)
	v1 := strings.TrimPrefix(good, "t=1767225600,")
	other := Sign("another secret", body, signedAt)
	otherV1 := strings.TrimPrefix(other, "t=1767225600,")
	tol := 5 * time.Minute

	tests := []struct {
		name    string
		secret  string
		header  string
		body    string
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"valid", vectorSecret, good, vectorBody, signedAt, tol, nil},
		{"valid within tolerance", vectorSecret, good, vectorBody, signedAt.Add(4 * time.Minute), tol, nil},
		{"valid slightly in the future", vectorSecret, good, vectorBody, signedAt.Add(-time.Minute), tol, nil},
		{"spaces around elements", vectorSecret, " t=1767225600 , " + v1 + " ", vectorBody, signedAt, tol, nil},
		{"v1 first", vectorSecret, v1 + ",t=1767225600", vectorBody, signedAt, tol, nil},
		{"rotation: second v1 matches", vectorSecret, "t=1767225600," + otherV1 + "," + v1, vectorBody, signedAt, tol, nil},
		{"unknown keys ignored", vectorSecret, good + ",v2=whatever,v0=" + strings.Repeat("0", 64), vectorBody, signedAt, tol, nil},
		{"tolerance 0 disables age check", vectorSecret, good, vectorBody, signedAt.Add(24 * time.Hour), 0, nil},

		{"tampered body", vectorSecret, good, strings.Replace(vectorBody, "ses_1", "ses_2", 1), signedAt, tol, ErrSignatureMismatch},
		{"empty body", vectorSecret, good, "", signedAt, tol, ErrSignatureMismatch},
		{"wrong secret", "whsec_wrong", good, vectorBody, signedAt, tol, ErrSignatureMismatch},
		{"empty secret", "", good, vectorBody, signedAt, tol, ErrSignatureMismatch},
		{"timestamp changed", vectorSecret, strings.Replace(good, "t=1767225600", "t=1767225601", 1), vectorBody, signedAt, tol, ErrSignatureMismatch},
		{"uppercase hex is a different value", vectorSecret, "t=1767225600,v1=" + strings.Repeat("A", 64), vectorBody, signedAt, tol, ErrSignatureMismatch},
		{"stale", vectorSecret, good, vectorBody, signedAt.Add(tol + time.Second), tol, ErrStaleSignature},
		{"too far in the future", vectorSecret, good, vectorBody, signedAt.Add(-tol - time.Second), tol, ErrStaleSignature},

		{"empty header", vectorSecret, "", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"garbage", vectorSecret, "sha256=abcdef", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"no t", vectorSecret, v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"no v1", vectorSecret, "t=1767225600", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"two t", vectorSecret, "t=1767225600," + good, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"t not a number", vectorSecret, "t=yesterday," + v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"t negative", vectorSecret, "t=-1," + v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"t with plus", vectorSecret, "t=+1767225600," + v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"t empty", vectorSecret, "t=," + v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"t overflows", vectorSecret, "t=99999999999999999999," + v1, vectorBody, signedAt, tol, ErrMalformedSignature},
		{"v1 short", vectorSecret, "t=1767225600,v1=abcd", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"v1 not hex", vectorSecret, "t=1767225600,v1=" + strings.Repeat("zz", 32), vectorBody, signedAt, tol, ErrMalformedSignature},
		{"element without =", vectorSecret, good + ",junk", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"trailing comma", vectorSecret, good + ",", vectorBody, signedAt, tol, ErrMalformedSignature},
		{"semicolons", vectorSecret, strings.ReplaceAll(good, ",", ";"), vectorBody, signedAt, tol, ErrMalformedSignature},
		{"oversized", vectorSecret, good + strings.Repeat(",x=y", maxSignatureHeader), vectorBody, signedAt, tol, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, []byte(tt.body), tt.now, tt.tol)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1767225600, 0)
	f.Add(vectorHeader, []byte(vectorBody))
	f.Add("t=1767225600,v1="+strings.Repeat("0", 64), []byte("{}"))
	f.Add("t=1,v1=abcd,v1=", []byte(nil))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		sig, perr := parseSignature(header)
		err := Verify(vectorSecret, header, body, now, 5*time.Minute)
		if perr != nil {
			if !errors.Is(perr, ErrMalformedSignature) {
				t.Fatalf("parse error %v does not wrap ErrMalformedSignature", perr)
			}
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("Verify = %v for a header the parser refused (%v)", err, perr)
			}
		} else {
			if len(sig.v1) == 0 || sig.t < 0 || sig.rawT == "" {
				t.Fatalf("parser accepted %q with t=%d v1=%d", header, sig.t, len(sig.v1))
			}
			for _, v := range sig.v1 {
				if len(v) != 32 {
					t.Fatalf("parser returned a %d-byte v1", len(v))
				}
			}
		}
		if err == nil {
			// Only a header holding the real MAC can verify.
			want := "v1=" + hex.EncodeToString(mac(vectorSecret, sig.rawT, body))
			if !strings.Contains(header, want) {
				t.Fatalf("Verify accepted %q for body %q", header, body)
			}
		}
		// Whatever the body, its own signature verifies and a changed body does not.
		h := Sign(vectorSecret, body, now)
		if err := Verify(vectorSecret, h, body, now, time.Minute); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if err := Verify(vectorSecret, h, slices.Concat(body, []byte("x")), now, time.Minute); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("changed body: %v", err)
		}
	})
}
