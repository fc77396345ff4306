package config

import (
	"strings"
	"testing"
)

// text: true is read from YAML, off by default, and refused on a WhatsApp
// trunk (Meta's calls carry audio only).
func TestTrunkText(t *testing.T) {
	c, err := Load(strings.NewReader(waTrunkYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Trunks[0].Text {
		t.Error("text on by default")
	}
	c.SIP.Trunks[0].Text = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sip.trunks[0].text") {
		t.Errorf("text on a whatsapp trunk: %v", err)
	}
	c, err = Load(strings.NewReader("sip:\n  trunks:\n    - name: pbx\n      uri: sip:pbx.example\n      text: true\n      srtp: sdes\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := c.Trunk("pbx"); tr == nil || !tr.Text {
		t.Errorf("text: true not read: %+v", tr)
	}
}
