package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSeriesArePrefixedAndCount(t *testing.T) {
	m := New(func() float64 { return 3 })
	m.SIPRequest("INVITE")
	m.CallEnded("outbound", "success", 2*time.Second)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`split_sip_requests_total{method="INVITE"} 1`, "split_calls_active 3",
		`split_calls_ended_total{direction="outbound",result="success"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %q", want)
		}
	}
}
