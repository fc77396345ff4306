package rtt

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDataChannelInit(t *testing.T) {
	c := DataChannelInit()
	if c.Ordered == nil || !*c.Ordered || c.Protocol == nil || *c.Protocol != "t140" || c.MaxRetransmits != nil || c.MaxPacketLifeTime != nil {
		t.Fatalf("init %+v", c)
	}
	if IsT140Channel(nil) {
		t.Fatal("nil channel accepted")
	}
	if got := DCMapAttribute(3, "t140"); got != `dcmap:3 label="t140";subprotocol="t140"` {
		t.Fatalf("dcmap %q", got)
	}
}

func TestMessages(t *testing.T) {
	if Messages("") != nil {
		t.Fatal("empty text must give no message")
	}
	long := strings.Repeat("手", 3000) // 9000 bytes
	msgs := Messages(long)
	if len(msgs) != 3 || strings.Join(msgs, "") != long {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if len(m) > MaxSendBytes || !utf8.ValidString(m) {
			t.Fatalf("message of %d bytes, valid %v", len(m), utf8.ValidString(m))
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	if s, err := DecodeMessage([]byte("hej\u2028")); err != nil || s != "hej\u2028" {
		t.Fatalf("%q %v", s, err)
	}
	s, err := DecodeMessage([]byte("a\xffb"))
	if !errors.Is(err, ErrInvalidUTF8) || s != "a\uFFFDb" {
		t.Fatalf("invalid: %q %v", s, err)
	}
}
