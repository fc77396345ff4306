package testutil

import (
	"errors"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Real-time text of a SessionPeer (RFC 8865, as the pages do it): with
// Text set before Start or Accept, the peer opens its own t140 channel
// (before its offer, or after its answer) and keeps what arrives on the
// channels the hub opens, by label ("deaf-user/<leg>", "interpreter/<leg>").

// t140Init is a page's channel: protocol t140, reliable and ordered.
func t140Init() *webrtc.DataChannelInit {
	ordered, proto := true, "t140"
	return &webrtc.DataChannelInit{Ordered: &ordered, Protocol: &proto}
}

// textSetup opens the peer's sending channel on pc and collects the hub's.
func (p *SessionPeer) textSetup(pc *webrtc.PeerConnection) error {
	if !p.Text {
		return nil
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		label := dc.Label()
		p.mu.Lock()
		if p.texts == nil {
			p.texts = map[string]string{}
		}
		p.texts[label] += ""
		p.mu.Unlock()
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if !m.IsString {
				return
			}
			p.mu.Lock()
			if p.texts == nil {
				p.texts = map[string]string{}
			}
			p.texts[label] += string(m.Data)
			p.mu.Unlock()
		})
	})
	dc, err := pc.CreateDataChannel("t140", t140Init())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.dc = dc
	p.mu.Unlock()
	return nil
}

// TypeText sends s on the peer's own t140 channel (once it is open).
func (p *SessionPeer) TypeText(s string) error {
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	if dc == nil {
		return errors.New("testutil: the peer has no text channel (set Text before Start or Accept)")
	}
	if dc.ReadyState() != webrtc.DataChannelStateOpen {
		return errors.New("testutil: the text channel is not open yet")
	}
	return dc.SendText(s)
}

// TextOpen reports whether the peer's own channel is open.
func (p *SessionPeer) TextOpen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dc != nil && p.dc.ReadyState() == webrtc.DataChannelStateOpen
}

// TextFrom is what arrived on the hub's channels whose label starts with
// prefix ("deaf-user/"), concatenated in label order of arrival per label.
func (p *SessionPeer) TextFrom(prefix string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for label, s := range p.texts {
		if strings.HasPrefix(label, prefix) {
			b.WriteString(s)
		}
	}
	return b.String()
}

// TextLabels lists the labels of the channels the hub opened.
func (p *SessionPeer) TextLabels() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for l := range p.texts {
		out = append(out, l)
	}
	return out
}
