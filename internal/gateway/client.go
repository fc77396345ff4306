package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/sipua"
	"github.com/split-hub/split/internal/wsjson"
)

// Messages of docs/signalling.md.
type (
	inMsg struct {
		Type      string                   `json:"type"`
		Call      string                   `json:"call"`
		To        string                   `json:"to"`
		SDP       string                   `json:"sdp"`
		Digits    string                   `json:"digits"`
		Code      int                      `json:"code"`
		Headers   map[string]string        `json:"headers"`
		Candidate *webrtc.ICECandidateInit `json:"candidate"`
	}
	helloMsg struct {
		Type       string             `json:"type"`
		Identity   string             `json:"identity"`
		SIPURI     string             `json:"sip_uri"`
		ICEServers []webrtc.ICEServer `json:"ice_servers"`
		Server     string             `json:"server"`
	}
	sdpMsg struct {
		Type string `json:"type"`
		Call string `json:"call"`
		SDP  string `json:"sdp"`
	}
	incomingMsg struct {
		Type        string            `json:"type"`
		Call        string            `json:"call"`
		From        string            `json:"from"`
		DisplayName string            `json:"display_name,omitempty"`
		To          string            `json:"to"`
		Video       bool              `json:"video"`
		SDP         string            `json:"sdp"`
		Headers     map[string]string `json:"headers,omitempty"`
	}
	stateMsg struct {
		Type   string `json:"type"`
		Call   string `json:"call"`
		State  string `json:"state"`
		Code   int    `json:"code,omitempty"`
		Reason string `json:"reason,omitempty"`
	}
	dtmfMsg struct {
		Type  string `json:"type"`
		Call  string `json:"call"`
		Digit string `json:"digit"`
	}
	statsMsg struct {
		Type          string              `json:"type"`
		Call          string              `json:"call"`
		AudioCodec    string              `json:"audio_codec"`
		VideoCodec    string              `json:"video_codec,omitempty"`
		SIPAudioCodec string              `json:"sip_audio_codec"`
		Path          string              `json:"path"`
		SIPRTP        sipua.StatsSnapshot `json:"sip_rtp"`
	}
	errorMsg struct {
		Type    string `json:"type"`
		Call    string `json:"call,omitempty"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	pongMsg struct {
		Type string `json:"type"`
	}
)

// Client is one browser WebSocket.
type Client struct {
	g        *Gateway
	identity string
	conn     *websocket.Conn
	log      *slog.Logger
	out      *wsjson.Out

	mu    sync.Mutex
	calls map[string]*Call
}

const maxCallsPerClient = 4

// Serve runs the signalling protocol on conn for identity until the socket
// closes; then the client's calls are hung up.
func (g *Gateway) Serve(ctx context.Context, conn *websocket.Conn, identity string) {
	conn.SetReadLimit(256 << 10)
	cl := &Client{g: g, identity: identity, conn: conn, calls: map[string]*Call{},
		log: g.log.With("identity", identity)}
	cl.out = wsjson.NewOut(conn, 64, cl.log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl.out.Run(ctx)
	}()
	g.addClient(cl)
	cl.log.Info("browser connected")
	host := g.ua.Host()
	ice := g.rtc.ICEServers()
	if ice == nil {
		ice = []webrtc.ICEServer{} // an array, never null: it goes to RTCPeerConnection as it is
	}
	cl.send(helloMsg{Type: "hello", Identity: identity, SIPURI: "sip:" + identity + "@" + host,
		ICEServers: ice, Server: "split/" + g.version})
	cl.readLoop(ctx)
	g.removeClient(cl)
	cl.mu.Lock()
	calls := make([]*Call, 0, len(cl.calls))
	for _, c := range cl.calls {
		calls = append(calls, c)
	}
	cl.mu.Unlock()
	for _, c := range calls {
		c.post(func() {
			if c.client == cl {
				c.hangup(200, "Browser disconnected")
			}
		})
	}
	cancel()
	wg.Wait()
	cl.log.Info("browser disconnected")
}

func (cl *Client) send(v any) { cl.out.Send(v) }

func (cl *Client) sendError(call, code, msg string) {
	cl.send(errorMsg{Type: "error", Call: call, Code: code, Message: msg})
}

func (cl *Client) adopt(id string, c *Call) {
	cl.mu.Lock()
	cl.calls[id] = c
	cl.mu.Unlock()
}

func (cl *Client) forget(id string) {
	cl.mu.Lock()
	delete(cl.calls, id)
	cl.mu.Unlock()
}

func (cl *Client) call(id string) *Call {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.calls[id]
}

func (cl *Client) readLoop(ctx context.Context) {
	for {
		typ, b, err := cl.conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			cl.sendError("", "bad_request", "text frames only")
			continue
		}
		m, err := parseMessage(b)
		if err != nil {
			if m.Type == "offer" && m.Call != "" && cl.call(m.Call) == nil {
				// a refused offer: the call was never placed
				cl.refuse(m.Call, "bad_request", err.Error(), 400, "Bad Request")
				continue
			}
			cl.sendError(m.Call, "bad_request", err.Error())
			continue
		}
		cl.handle(m)
	}
}

func (cl *Client) handle(m inMsg) {
	switch m.Type {
	case "ping":
		cl.send(pongMsg{Type: "pong"})
		return
	case "offer":
		cl.offer(m)
		return
	}
	if m.Call == "" {
		cl.sendError("", "bad_request", "missing call")
		return
	}
	c := cl.call(m.Call)
	if c == nil {
		switch m.Type {
		case "answer", "reject", "candidate", "dtmf", "hold", "resume", "hangup":
			cl.sendError(m.Call, "not_found", "no such call")
		default:
			cl.sendError(m.Call, "bad_request", "unknown message type "+strconvQuote(m.Type))
		}
		return
	}
	switch m.Type {
	case "answer":
		c.post(func() { c.answered(cl, m.SDP) })
	case "reject":
		code := m.Code
		if code < 400 || code > 699 {
			code = 486
		}
		c.post(func() {
			if c.sip != nil && !c.active {
				c.sip.Reject(code, reasonFor(code))
			}
			c.finish(code, reasonFor(code))
		})
	case "candidate":
		c.post(func() {
			if c.rtc != nil && m.Candidate != nil && m.Candidate.Candidate != "" {
				if err := c.rtc.AddCandidate(*m.Candidate); err != nil {
					cl.sendError(m.Call, "bad_request", "candidate: "+err.Error())
				}
			}
		})
	case "dtmf":
		digits := m.Digits
		c.post(func() {
			if c.sip == nil || !c.active {
				cl.sendError(m.Call, "bad_request", "call not active")
				return
			}
			sc := c.sip
			c.g.wg.Add(1)
			go func() { // paced sending must not block the call loop
				defer c.g.wg.Done()
				if err := sc.SendDTMF(context.Background(), strings.ToUpper(digits)); err != nil {
					cl.sendError(m.Call, "unavailable", "dtmf: "+err.Error())
				}
			}()
		})
	case "hold", "resume":
		hold := m.Type == "hold"
		c.post(func() {
			if c.sip == nil || !c.active {
				cl.sendError(m.Call, "bad_request", "call not active")
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.sip.SetHold(ctx, hold); err != nil {
				cl.sendError(m.Call, "unavailable", err.Error())
				return
			}
			st := "active"
			if hold {
				st = "held"
			}
			cl.send(stateMsg{Type: "state", Call: c.id, State: st, Code: 200, Reason: "OK"})
		})
	case "hangup":
		c.post(func() {
			if c.dir == sipua.Inbound && !c.active {
				c.sip.Reject(603, "Decline")
				c.finish(603, "Decline")
				return
			}
			c.hangup(200, "Local hangup")
		})
	default:
		cl.sendError(m.Call, "bad_request", "unknown message type "+strconvQuote(m.Type))
	}
}

// refuse answers an offer that places no call: an error, then the call's
// end (docs/signalling.md: every refused offer gets both, in this order).
func (cl *Client) refuse(call, code, msg string, sipCode int, reason string) {
	cl.sendError(call, code, msg)
	cl.send(stateMsg{Type: "state", Call: call, State: "ended", Code: sipCode, Reason: reason})
}

func (cl *Client) offer(m inMsg) {
	switch {
	case cl.call(m.Call) != nil:
		// the id names a live call, which goes on: no "ended" for it
		cl.sendError(m.Call, "bad_request", "call id already in use")
		return
	case cl.g.isDraining():
		cl.refuse(m.Call, "unavailable", "hub is shutting down", 503, "Service Unavailable")
		return
	}
	cl.mu.Lock()
	n := len(cl.calls)
	cl.mu.Unlock()
	if n >= maxCallsPerClient {
		cl.refuse(m.Call, "forbidden", fmt.Sprintf("too many calls on this connection (at most %d at once)", maxCallsPerClient), 403, "Forbidden")
		return
	}
	headers := m.Headers
	c := newCall(cl.g, cl, m.Call, sipua.Outbound)
	cl.adopt(m.Call, c)
	cl.g.track(c)
	c.start(func() { c.dial(m.To, m.SDP, headers) })
}

func toSIPHeaders(hs []sipHeader) []sip.Header {
	out := make([]sip.Header, 0, len(hs))
	for _, h := range hs {
		out = append(out, sip.NewHeader(h.name, h.value))
	}
	return out
}

func reasonFor(code int) string {
	switch code {
	case 486:
		return "Busy Here"
	case 480:
		return "Temporarily Unavailable"
	case 603:
		return "Decline"
	case 404:
		return "Not Found"
	}
	return "Rejected"
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
