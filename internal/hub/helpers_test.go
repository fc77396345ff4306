package hub

import (
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/session"
)

type routeCase struct {
	entry, lang, hours, tz string
	ctx                    map[string]string
	days                   []string
}

func (c routeCase) route() config.Route {
	return config.Route{Entry: c.entry, Language: c.lang, Context: c.ctx, Days: c.days, Hours: c.hours, TimeZone: c.tz, Target: "queue:default"}
}

func sessionCustomer(lang string, ctx map[string]string) session.Customer {
	return session.Customer{Language: lang, Context: ctx}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestE164(t *testing.T) {
	h := &Hub{cfg: config.Default()}
	h.cfg.Sessions.CountryCode = "34"
	for in, want := range map[string]string{"600123456": "+34600123456", "+34 600-12-34-56": "+34600123456",
		"0034600123456": "+34600123456", "+15005550006": "+15005550006", "0600123456": "+34600123456"} {
		if got := h.e164(in); got != want {
			t.Errorf("e164(%q) = %q, want %q", in, got, want)
		}
	}
	h.cfg.Sessions.CountryCode = ""
	if got := h.e164("600123456"); got != "+600123456" {
		t.Errorf("without a country code: %q", got)
	}
}
