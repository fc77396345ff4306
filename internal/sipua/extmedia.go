package sipua

// External media: a call whose signalling is ours but whose media is not.
// WhatsApp's SIP variant with DTLS-SRTP+ICE (a provider: whatsapp trunk
// with srtp: dtls) carries WebRTC media: Meta's INVITE offers
// UDP/TLS/RTP/SAVPF with a=fingerprint and ICE candidates, which the hub's
// WebRTC engine (internal/rtc) answers. Such a call allocates no RTP
// stream: the offer (inbound) or answer (outbound) body is handed to the
// caller as it came, and the SDP we send is the caller's. Everything else —
// TLS, digest both ways, Record-Route, no re-INVITE, BYE with Reason — is
// the WhatsApp call's as with SDES.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/google/uuid"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/sdp"
)

// ErrExternalMedia is returned by what needs the call's own RTP stream
// (SendDTMF, Answer without an answer body) on a call whose media is
// external (ExternalMedia).
var ErrExternalMedia = errors.New("sipua: the call's media is external (a WebRTC leg): no RTP stream here")

// ExternalMedia reports whether the call's media is not the call's own: no
// RTP stream, Audio is nil, the SDP bodies are the caller's (RemoteSDP;
// AnswerWith or DialOptions.Offer).
func (c *Call) ExternalMedia() bool { return c.extMedia }

// RemoteSDP is the far end's SDP of a call with external media, as it came:
// the INVITE's offer (inbound) or the 200 OK's answer (outbound, once
// answered). Nil for other calls.
func (c *Call) RemoteSDP() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.remoteSDP)
}

// SetAnswerSDP sets the answer that Answer sends in the 200 OK of an inbound
// call with external media (so that the one who answers need not hold it).
func (c *Call) SetAnswerSDP(body []byte) {
	c.mu.Lock()
	c.localBody = bytes.Clone(body)
	c.mu.Unlock()
}

// SetAnswerFunc makes Answer of an inbound call with external media ask f
// for its answer, at the moment it answers (unless SetAnswerSDP gave one):
// the WebRTC leg is created then, so that its ICE does not run (and time
// out) while the call rings or queues.
func (c *Call) SetAnswerFunc(f func(ctx context.Context) ([]byte, error)) {
	c.mu.Lock()
	c.answerFn = f
	c.mu.Unlock()
}

// AnswerWith answers an inbound call with external media: 200 OK carrying
// body (the WebRTC leg's answer to RemoteSDP), then waits for the ACK, as
// Answer does.
func (c *Call) AnswerWith(ctx context.Context, body []byte) error {
	if !c.extMedia {
		return errors.New("sipua: AnswerWith is for calls with external media (Answer answers with the call's own stream)")
	}
	if err := checkAnswerBody(body); err != nil {
		return err
	}
	c.SetAnswerSDP(body)
	return c.Answer(ctx)
}

// answerBody is the answer Answer sends for an external-media call.
func (c *Call) answerBody(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	body, f := c.localBody, c.answerFn
	c.mu.Unlock()
	if len(body) == 0 && f != nil {
		b, err := f(ctx)
		if err != nil {
			return nil, fmt.Errorf("sipua: answer: %w", err)
		}
		if err := checkAnswerBody(b); err != nil {
			return nil, err
		}
		c.SetAnswerSDP(b)
		body = b
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: no answer set (SetAnswerSDP, SetAnswerFunc or AnswerWith)", ErrExternalMedia)
	}
	return body, nil
}

// checkAnswerBody: our own SDP must at least parse and carry audio.
func checkAnswerBody(body []byte) error {
	s, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("sipua: SDP: %w", err)
	}
	if s.First("audio") == nil {
		return fmt.Errorf("sipua: SDP: %w", sdp.ErrNoMedia)
	}
	return nil
}

// newExtCall is a call without RTP streams (external media).
func (u *UA) newExtCall(dir Direction, callID string) (*Call, error) {
	u.mu.Lock()
	draining := u.draining
	u.mu.Unlock()
	if draining {
		return nil, ErrShuttingDown
	}
	c := &Call{
		ID: "sip_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], Direction: dir, ua: u, callID: callID,
		done: make(chan struct{}), sdpID: rand.Uint64() >> 2, extMedia: true,
	}
	c.log = u.log.With("leg", c.ID, "call_id", callID, "dir", string(dir), "media", "external")
	return c, nil
}

// isDTLSMedia: an m-line whose keys come by DTLS (UDP/TLS/RTP/SAVP[F]).
func isDTLSMedia(m *sdp.Media) bool { return strings.Contains(strings.ToUpper(m.Proto), "TLS") }

// waMediaRefusal says why an INVITE's offer does not fit the media trunk t
// speaks ("" : it fits): SDES (RTP/SAVP with a=crypto) on an srtp: sdes
// trunk, DTLS-SRTP with ICE (UDP/TLS/RTP/SAVPF, a=fingerprint, a=ice-ufrag,
// Opus) on an srtp: dtls one. An INVITE without a body is refused on a dtls
// trunk (the WebRTC leg needs Meta's offer) and left to the late-offer path
// on an sdes one.
func waMediaRefusal(t *config.Trunk, body []byte) (metric, warning string) {
	dtls := t.SRTP == "dtls"
	if len(body) == 0 {
		if dtls {
			return "whatsapp_media", `399 split "an SDP offer (DTLS-SRTP with ICE) is required"`
		}
		return "", ""
	}
	s, err := sdp.Parse(body)
	if err != nil {
		return "", "" // the INVITE handler answers 400
	}
	a := s.First("audio")
	if a == nil {
		return "", ""
	}
	if !dtls {
		if isDTLSMedia(a) || !a.Secure() || len(a.Crypto) == 0 {
			return "whatsapp_media", `399 split "SDES-SRTP required (RTP/SAVP with a=crypto)"`
		}
		return "", ""
	}
	switch {
	case !isDTLSMedia(a) || !a.Secure():
		return "whatsapp_media", `399 split "DTLS-SRTP required (UDP/TLS/RTP/SAVPF with a=fingerprint)"`
	case !bytes.Contains(body, []byte("a=fingerprint:")):
		return "whatsapp_media", `399 split "DTLS-SRTP required: no a=fingerprint"`
	case !bytes.Contains(body, []byte("a=ice-ufrag:")):
		return "whatsapp_media", `399 split "ICE required: no a=ice-ufrag"`
	}
	if _, ok := a.Find("opus", 48000); !ok {
		return "whatsapp_no_codec", `399 split "Opus required"`
	}
	return "", ""
}

// takeAnswer keeps the 200 OK's answer of an outbound external-media call
// and hands it to OnAnswer.
func (c *Call) takeAnswer(body []byte) error {
	if err := checkAnswerBody(body); err != nil {
		return err
	}
	c.mu.Lock()
	c.remoteSDP = bytes.Clone(body)
	f := c.onAnswer
	c.mu.Unlock()
	if f != nil {
		return f(bytes.Clone(body))
	}
	return nil
}

// Reinvite sends an established external-media call a re-INVITE with body
// (of contentType), ACKs the answer and returns its body: a SIPREC
// recording's metadata update.
func (c *Call) Reinvite(ctx context.Context, contentType string, body []byte) ([]byte, error) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st != StateActive && st != StateHeld {
		return nil, errors.New("sipua: call not established")
	}
	ct := c.contact()
	res, err := c.reinvite(ctx, contentType, body, &ct)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(res.Body()), nil
}
