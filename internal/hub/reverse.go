package hub

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/split-hub/split/internal/interpreter"
	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/session"
	"github.com/split-hub/split/internal/sipua"
)

// Reverse mode: an agent calls a customer by sending a link. The session
// exists from the start with the agent in it (their console, or their desk
// phone's SIP call); the customer's browser joins the moment the link is
// opened, and the media plan connects them.

// reverseRingAgent offers the agent's console a leg in a reverse session
// right away (the agent waits in the call for the customer).
func (h *Hub) reverseRingAgent(s *session.Session, agent string) {
	s.Do(func() {
		if s.Ended() {
			return
		}
		st(s).agentWaiting = agent
		if err := h.offerToAgent(s, agent, "direct", nil, ""); err != nil {
			s.Record("agent.unavailable", "", map[string]any{"agent": agent, "why": err.Error()})
		}
	})
}

// agentInvite: the console's "invite" — a Reverse session to a phone
// number or e-mail address, sent at once.
func (h *Hub) agentInvite(c *conn, m inFrame) error {
	// Every link may cost an SMS: an agent's token is no licence to spam.
	if !h.limiter.allow("invite|"+c.identity, 20) {
		return fmt.Errorf("%w: too many invitations; wait a minute", errUnavailableErr)
	}
	if m.Channel == "whatsapp-call" {
		return h.waAgentCall(c, m) // a WhatsApp voice call, not a link
	}
	to := strings.TrimSpace(m.To)
	if ch := m.Channel; ch != "email" && !strings.Contains(to, "@") && to != "" {
		to = h.e164(to)
	}
	ch := m.Channel
	if ch == "" {
		ch = channelFor(to)
	}
	if ch == "copy" && to != "" && !strings.Contains(to, "@") && !e164.MatchString(to) {
		return fmt.Errorf("%w: to must be an E.164 number (+34600123456) or an e-mail address", errBadRequest)
	}
	o, err := h.linkOptions(linkReq{Channel: ch, To: to}, time.Now())
	if err != nil {
		return err
	}
	s, err := h.newSession("", session.ModeReverse, "console", session.Customer{Name: m.Name, Contact: to})
	if err != nil {
		return err
	}
	s.Call(func() { s.SetScoped("target", "agent:"+c.identity) })
	o.SessionID = s.ID
	lk, err := h.issueLink(context.Background(), s, o)
	if err != nil {
		s.Do(func() { h.end(s, 500, "Link failed") })
		return err
	}
	c.send(invitedMsg{Type: "invited", Session: s.ID, URL: lk.URL, Channel: lk.Channel, To: to, Delivery: lk.Delivery, ExpiresAt: lk.ExpiresAt})
	h.reverseRingAgent(s, c.identity)
	return nil
}

type invitedMsg struct {
	Type      string    `json:"type"`
	Session   string    `json:"session"`
	URL       string    `json:"url"`
	Channel   string    `json:"channel"`
	To        string    `json:"to,omitempty"`
	Delivery  string    `json:"delivery"`
	ExpiresAt time.Time `json:"expires_at"`
}

// reverseFromPhone: an agent's desk phone dialled the reverse prefix plus
// a number (*88 + 600123456): the hub answers, keeps the phone in a new
// session and texts the customer a link; the customer's browser joins the
// phone's audio (and the agent's console, if open, gets the video).
func (h *Hub) reverseFromPhone(sc *sipua.Call, number string) {
	number = h.e164(number)
	if !e164.MatchString(number) {
		sc.Reject(484, "Address Incomplete")
		return
	}
	src := sc.From.User
	if !h.limiter.allow("reverse-phone|"+src, 10) {
		sc.Reject(486, "Busy Here")
		return
	}
	ch := "sms"
	if h.notifier == nil || !h.notifier.Has(ch) {
		h.log.Warn("reverse from a desk phone needs sessions.notify.sms", "from", src)
		sc.Reject(503, "Service Unavailable")
		return
	}
	o, err := h.linkOptions(linkReq{Channel: ch, To: number}, time.Now())
	if err != nil {
		sc.Reject(500, "Server Internal Error")
		return
	}
	agent := ""
	if a, err := h.store.GetAgent(context.Background(), src); err == nil {
		agent = a.ID
	}
	s, err := h.newSession("", session.ModeReverse, "phone", session.Customer{Contact: number})
	if err != nil {
		sc.Reject(503, "Service Unavailable")
		return
	}
	s.Do(func() {
		t := st(s)
		l := &session.Leg{ID: sc.ID, Role: session.RoleAgent, Party: agent, Name: sc.From.String(), EP: &sipEP{c: sc, h: h}}
		if err := s.AddLeg(l); err != nil {
			sc.Reject(500, "Server Internal Error")
			return
		}
		h.watchSIP(s, sc)
		t.agentLeg, t.agentID = sc.ID, agent
		t.phoneAgent = true
		s.Update(func(in *session.Info) {
			if agent != "" {
				in.Agent = &session.AgentRef{ID: agent, Name: h.agentName(agent)}
			}
		})
		o.SessionID = s.ID
		h.goAsync(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
			defer cancel()
			if err := sc.Answer(ctx); err != nil {
				s.Do(func() { h.end(s, 500, "Answer failed") })
				return
			}
			s.Do(s.Replan)
			s.Do(func() {
				stop := make(chan struct{})
				st(s).ringback = stop
				h.goAsync(func() { ringback(sc.Audio(), stop, s.Done()) })
			})
			if _, err := h.issueLink(context.Background(), s, o); err != nil {
				s.Do(func() { h.end(s, 500, "Link failed") })
				return
			}
			s.Do(func() { _ = s.SetState(session.StateWaiting, map[string]any{"for": "customer"}) })
		})
		// The agent's console, if open, shows the customer's video.
		if agent != "" && len(h.agentConns(agent)) > 0 {
			if err := h.offerToAgent(s, agent, "view", nil, "view:"+agent); err != nil {
				s.Record("agent.unavailable", "", map[string]any{"agent": agent, "why": err.Error()})
			}
		}
	})
}

// e164 turns a dialled or caller-ID number into E.164: +… stays, 00… is
// international, anything else is national (sessions.country_code).
func (h *Hub) e164(n string) string {
	n = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, strings.TrimSpace(n))
	return interpreter.E164(n, h.cfg.Sessions.CountryCode)
}

// ringback plays a ringing tone (425 Hz, 1 s on, 4 s off, as in Europe)
// to a desk phone waiting in a Reverse call until stop closes (the customer
// joined) or the session ends. The agent knows the call is alive.
func ringback(t *leg.Track, stop, done <-chan struct{}) { tones(t, stop, done, true) }

// silence sends silent frames in the track's format every 20 ms (a peer
// that hangs up without media keeps the call).
func silence(t *leg.Track, stop, done <-chan struct{}) { tones(t, stop, done, false) }

// tones sends the ringback cadence (425 Hz, 1 s of every 5 s) or silence.
func tones(t *leg.Track, stop, done <-chan struct{}, ring bool) {
	c := t.Send()
	alaw, opus := c.Is("PCMA"), c.Is("opus")
	if !alaw && !opus && !c.Is("PCMU") {
		return // G.711 phones and Opus (WhatsApp) only
	}
	rate, step := 8000, uint32(160)
	var enc media.OpusEncoder
	if opus {
		var err error
		if enc, err = media.NewOpusEncoder(48000, 24000); err != nil {
			return
		}
		rate, step = 48000, 960
	}
	pkt := make([]byte, 12+1500)
	pkt[0], pkt[1] = 0x80, c.PT&0x7f
	ssrc := uint32(time.Now().UnixNano())
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
	pcm := make([]int16, rate/50)
	var phase float64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-done:
			return
		case <-tick.C:
		}
		on := ring && i%250 < 50 // 1 s of every 5 s
		if on {
			media.GenerateTone(pcm, 425, rate, &phase, 0.25)
		} else {
			clear(pcm)
		}
		n := len(pcm)
		switch {
		case opus:
			var err error
			if n, err = enc.Encode(pcm, pkt[12:]); err != nil {
				return
			}
		case alaw:
			for j, v := range pcm {
				pkt[12+j] = media.EncodeAlawSample(v)
			}
		default:
			for j, v := range pcm {
				pkt[12+j] = media.EncodeUlawSample(v)
			}
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i)*step)
		_ = t.In.WriteRTP(pkt[:12+n])
	}
}
