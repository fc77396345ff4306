package config

import (
	"strings"
	"testing"
)

// srtp: dtls (DTLS-SRTP+ICE media over SIP) is a whatsapp trunk's choice
// only; the number's sip.srtp follows the trunk's (and is what the hub
// tells Meta), and a number that says otherwise is refused.
func TestWhatsAppDTLSConfig(t *testing.T) {
	dtls := strings.Replace(whatsappSectionYAML, "password: meta-generated}", "password: meta-generated, srtp: dtls}", 1)
	if dtls == whatsappSectionYAML {
		t.Fatal("the fixture changed")
	}
	c, err := Load(strings.NewReader(dtls))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(c, []string{"SPLIT_WHATSAPP_NUMBERS_1_SIP_PASSWORD=p"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a whatsapp trunk with srtp: dtls: %v", err)
	}
	w, _ := c.WhatsAppService()
	if got := w.Numbers[1].SIP.SRTP; got != "dtls" {
		t.Errorf("the number's srtp is %q, want the trunk's dtls", got)
	}

	// the number says sdes, the trunk dtls: refused
	c, _ = Load(strings.NewReader(strings.Replace(dtls, `password: ""}`, `password: "", srtp: sdes}`, 1)))
	_ = ApplyEnv(c, []string{"SPLIT_WHATSAPP_NUMBERS_1_SIP_PASSWORD=p"})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "whatsapp.numbers[1].sip.srtp") {
		t.Errorf("a number's srtp differing from its trunk's: %v", err)
	}

	// dtls on a trunk that is not Meta's: refused
	c, _ = Load(strings.NewReader(waTrunkYAML))
	c.SIP.Trunks = append(c.SIP.Trunks, Trunk{Name: "pbx", URI: "sip:pbx", Transport: "udp", SRTP: "dtls"})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sip.trunks[1].srtp") {
		t.Errorf("srtp: dtls on a PBX trunk: %v", err)
	}
}
