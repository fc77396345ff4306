package whatsapp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func payload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "payloads", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeT(t *testing.T, name string) Delivery {
	t.Helper()
	d, err := Decode(payload(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func TestDecodeUserConnect(t *testing.T) {
	d := decodeT(t, "user_connect")
	if len(d.Connects) != 1 || d.Len() != 1 {
		t.Fatalf("%+v", d)
	}
	c := d.Connects[0]
	if c.PhoneNumberID != "106540352242922" || c.DisplayNumber != "15550783881" || c.CallID != "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh" ||
		c.Direction != UserInitiated || c.SDPType != "offer" || c.CTAPayload != "conv=123;queue=billing" ||
		c.DeeplinkPayload != "campaign=x" || c.Contact.Name != "Caller Name" || c.User() != "16315553602" ||
		!c.Timestamp.Equal(time.Unix(1671644824, 0)) {
		t.Fatalf("%+v", c)
	}
	if !strings.HasPrefix(c.SDP, "v=0\r\no=- ") || !strings.Contains(c.SDP, "a=ice-lite\r\n") {
		t.Fatalf("SDP line ends not kept: %q", c.SDP)
	}
}

func TestDecodeBusinessConnectIgnoresLegacySDP(t *testing.T) {
	c := decodeT(t, "business_connect").Connects[0]
	if c.Direction != BusinessInitiated || c.SDPType != "answer" || c.SDP != "v=0\r\na=ice-lite\r\na=setup:active\r\n" ||
		c.BizOpaque != "conv=123" || c.User() != "12185552828" {
		t.Fatalf("%+v", c)
	}
}

func TestDecodeCallStatuses(t *testing.T) {
	d := decodeT(t, "call_status")
	if len(d.CallStatuses) != 2 || len(d.MessageStatuses) != 0 {
		t.Fatalf("%+v", d)
	}
	if s := d.CallStatuses[1]; s.Status != StatusAccepted || s.User() != "12185552828" || s.BizOpaque != "conv=123" {
		t.Fatalf("casing not normalised: %+v", s)
	}
}

func TestDecodeTerminate(t *testing.T) {
	te := decodeT(t, "terminate").Terminates[0]
	if te.Status != StatusFailed || te.Duration != 120*time.Second || !te.Answered() ||
		!te.StartTime.Equal(time.Unix(1671644824, 0)) || !te.EndTime.Equal(time.Unix(1671644944, 0)) ||
		te.BizOpaque != "agent=42" || te.User() != "16315553602" || len(te.Errors) != 1 || te.Errors[0].Code != 138021 ||
		te.Errors[0].Details != "no media for 30 s" {
		t.Fatalf("%+v", te)
	}
}

func TestDecodeMessages(t *testing.T) {
	m := decodeT(t, "text").Messages[0]
	if m.Type != "text" || !strings.HasPrefix(m.Text, "Agent please") || m.Contact.Name != "Sheena Nelson" || m.User() != "16505551234" {
		t.Fatalf("%+v", m)
	}
	ms := decodeT(t, "button_reply").Messages
	if len(ms) != 3 || ms[0].Payload != "call_me" || ms[0].Text != "Call me" || ms[0].ContextID != "wamid.T1" ||
		ms[1].Payload != "video" || ms[1].Text != "Video call" || ms[2].Type != "image" || ms[2].Text != "" {
		t.Fatalf("%+v", ms)
	}
	st := decodeT(t, "status_failed").MessageStatuses
	if len(st) != 1 || !st[0].OutsideWindow() || st[0].PhoneNumberID != "106540352242922" {
		t.Fatalf("%+v", st)
	}
}

func TestDecodePermissionReply(t *testing.T) {
	d := decodeT(t, "permission_reply")
	if len(d.PermissionReplies) != 1 || len(d.Messages) != 0 {
		t.Fatalf("%+v", d)
	}
	p := d.PermissionReplies[0]
	if !p.Accepted || p.Permanent || !p.Expires.Equal(time.Unix(1768550400, 0)) || p.Source != "user_action" ||
		p.ContextID != "wamid.gBGGFlaCmZ9plHrf2Mh-o" || p.User() != "14085551234" || p.Contact.Name != "Ana" {
		t.Fatalf("%+v", p)
	}
}

func TestDecodeBSUID(t *testing.T) {
	c := decodeT(t, "bsuid_connect").Connects[0]
	if c.User() != "US.13491208655302741918" || c.Contact.WaID != "" || c.Contact.Username != "kim.k" ||
		c.Contact.ParentUserID != "US.1" || c.Timestamp.IsZero() {
		t.Fatalf("%+v", c)
	}
}

func TestDecodeBad(t *testing.T) {
	for _, b := range []string{"", "{", "[1]", `{"entry": 5}`} {
		if _, err := Decode([]byte(b)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", b, err)
		}
	}
	// a change of the wrong shape is skipped, the rest is kept
	d, err := Decode([]byte(`{"entry":[{"changes":[{"field":"calls","value":{"calls":"x"}},` +
		`{"field":"calls","value":{"calls":[{"id":"wacid.1","event":"terminate","status":"completed","duration":"7"}]}}]}]}`))
	if err != nil || len(d.Terminates) != 1 || d.Terminates[0].Status != StatusCompleted || d.Terminates[0].Duration != 7*time.Second {
		t.Fatalf("%+v %v", d, err)
	}
}
