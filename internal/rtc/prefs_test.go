package rtc

import (
	"strings"
	"testing"
)

func TestBrowserPrefs(t *testing.T) {
	for _, c := range []struct{ allowed, trunk, want []string }{
		{[]string{"PCMU", "PCMA", "opus"}, []string{"PCMA"}, []string{"PCMA", "PCMU", "opus"}},
		{[]string{"opus"}, []string{"PCMU", "PCMA"}, []string{"opus"}},
		{[]string{"opus", "PCMU"}, []string{"PCMU"}, []string{"PCMU", "opus"}},
		{[]string{"pcmu", "opus"}, []string{"PCMU", "pcmu"}, []string{"pcmu", "opus"}},
	} {
		got := BrowserPrefs(c.allowed, c.trunk)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("BrowserPrefs(%v, %v) = %v, want %v", c.allowed, c.trunk, got, c.want)
		}
	}
}
