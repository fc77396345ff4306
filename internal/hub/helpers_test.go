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
