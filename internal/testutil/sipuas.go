package testutil

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	psdp "github.com/pion/sdp/v3"
)

// UASOptions configure a SIPUAS.
type UASOptions struct {
	Listen    string  // UDP address, e.g. 127.0.0.1:5090 (port 0 picks one)
	Codec     string  // "PCMU" (default) or "PCMA"
	ToneHz    float64 // tone sent on every call; 0 sends silence
	Amplitude float64 // 0: DefaultAmplitude
	Record    int     // seconds of received audio kept per call (0: 30; <0: none)
	// Ring, when positive, sends 180 Ringing and waits this long before 200 OK.
	Ring time.Duration
	// OnCall, if set, is called (on its own goroutine) for every call as
	// soon as its INVITE is received (inbound) or sent (outbound).
	OnCall func(*SIPCall)
	Log    *slog.Logger // sipgo's logger; nil discards
	// Text makes the UAS an RFC 4103 text endpoint (RFC4103Peer): it
	// answers an offered m=text with red+t140 (plain t140 if that is all
	// the offer has) and offers m=text red 100 / t140 98 in Invite. Off:
	// m=text is ignored (the answer omits it), as before.
	Text bool
	// TextRefuse (with Text) answers an offered m=text with port 0.
	TextRefuse bool
}

// SIPUAS is a small SIP user agent on UDP: it answers every INVITE with
// G.711 + telephone-event, sends a tone as RTP and records what it
// receives; it can also place calls (Invite). It handles any number of
// concurrent calls.
type SIPUAS struct {
	opts  UASOptions
	codec string
	pt    uint8
	tone  [][]byte

	conn  net.PacketConn
	addr  netip.AddrPort
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	dua   *sipgo.DialogUA
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
	serve chan error

	mu    sync.Mutex
	calls map[string]*SIPCall // by Call-ID

	total, answered, failed atomic.Uint64
}

// StartUAS starts a user agent listening on o.Listen.
func StartUAS(o UASOptions) (*SIPUAS, error) {
	codec := o.Codec
	if codec == "" {
		codec = CodecPCMU
	}
	codec, err := NormCodec(codec)
	if err != nil || codec == CodecOpus {
		return nil, fmt.Errorf("testutil: UAS codec must be PCMU or PCMA, not %q", o.Codec)
	}
	if o.Amplitude == 0 {
		o.Amplitude = DefaultAmplitude
	}
	if o.Record == 0 {
		o.Record = 30
	}
	tone, err := ToneFrames(codec, o.ToneHz, o.Amplitude)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp4", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("testutil: UAS listen: %w", err)
	}
	u := &SIPUAS{opts: o, codec: codec, tone: tone, conn: conn, calls: map[string]*SIPCall{}, serve: make(chan error, 1)}
	if codec == CodecPCMA {
		u.pt = 8
	}
	u.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u.ctx, u.stop = context.WithCancel(context.Background())
	if u.ua, err = sipgo.NewUA(sipgo.WithUserAgent("testutil-uas"), sipgo.WithUserAgentHostname("127.0.0.1")); err != nil {
		conn.Close()
		return nil, err
	}
	if u.srv, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(log)); err != nil {
		u.ua.Close()
		return nil, err
	}
	if u.cli, err = sipgo.NewClient(u.ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(log)); err != nil {
		u.ua.Close()
		return nil, err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: int(u.addr.Port())}}
	u.dua = &sipgo.DialogUA{Client: u.cli, ContactHDR: contact}
	u.srv.OnInvite(u.onInvite)
	u.srv.OnAck(u.onAck)
	u.srv.OnBye(u.onBye)
	u.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() { u.serve <- u.srv.ServeUDP(conn) }()
	return u, nil
}

// Addr is the UDP address the UAS listens on.
func (u *SIPUAS) Addr() netip.AddrPort { return u.addr }

// URI is sip:127.0.0.1:<port>, usable as a trunk URI.
func (u *SIPUAS) URI() string { return "sip:" + u.addr.String() }

// Counts reports calls seen, answered (200 OK sent or received) and failed.
func (u *SIPUAS) Counts() (total, answered, failed uint64) {
	return u.total.Load(), u.answered.Load(), u.failed.Load()
}

// Calls returns the calls that are still up.
func (u *SIPUAS) Calls() []*SIPCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*SIPCall, 0, len(u.calls))
	for _, c := range u.calls {
		out = append(out, c)
	}
	return out
}

// WaitCall waits for a call to be up (its INVITE received or sent) and returns one.
func (u *SIPUAS) WaitCall(ctx context.Context) (*SIPCall, error) {
	for {
		if cs := u.Calls(); len(cs) > 0 {
			return cs[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Close hangs up every call, stops the listener and waits for all goroutines.
func (u *SIPUAS) Close() error {
	var wg sync.WaitGroup
	for _, c := range u.Calls() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.Hangup(ctx)
		}()
	}
	wg.Wait()
	u.stop()
	u.wg.Wait()
	err := u.ua.Close()
	_ = u.conn.Close()
	<-u.serve
	return err
}

func (u *SIPUAS) add(c *SIPCall) {
	u.mu.Lock()
	u.calls[c.ID] = c
	u.mu.Unlock()
	u.total.Add(1)
	if u.opts.OnCall != nil {
		go u.opts.OnCall(c)
	}
}

func (u *SIPUAS) remove(c *SIPCall) {
	u.mu.Lock()
	if u.calls[c.ID] == c {
		delete(u.calls, c.ID)
	}
	u.mu.Unlock()
}

func (u *SIPUAS) find(callID string) *SIPCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[callID]
}

// localSDP is our SDP for a call with media port port.
func (u *SIPUAS) localSDP(port int, pt uint8, dtmfPT int, sessID uint64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=uas %d 1 IN IP4 127.0.0.1\r\ns=testutil\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n", sessID)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", port, pt)
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, " %d", dtmfPT)
	}
	fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", pt, u.codec)
	if dtmfPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmfPT, dtmfPT)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

// remoteMedia parses the far end's audio address and the payload types of
// our codec and telephone-event in body.
func (u *SIPUAS) remoteMedia(body []byte) (addr netip.AddrPort, pt uint8, dtmfPT int, err error) {
	var s psdp.SessionDescription
	if err = s.UnmarshalString(string(body)); err != nil {
		return addr, 0, -1, fmt.Errorf("testutil: SDP: %w", err)
	}
	var ip netip.Addr
	if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
		ip, _ = netip.ParseAddr(s.ConnectionInformation.Address.Address)
	}
	dtmfPT = -1
	found := false
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		if m.ConnectionInformation != nil && m.ConnectionInformation.Address != nil {
			ip, _ = netip.ParseAddr(m.ConnectionInformation.Address.Address)
		}
		addr = netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value))
		names := map[uint8]string{0: "PCMU/8000", 8: "PCMA/8000"}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			f := strings.Fields(a.Value)
			if len(f) != 2 {
				continue
			}
			n, err := strconv.Atoi(f[0])
			if err != nil || n < 0 || n > 127 {
				continue
			}
			names[uint8(n)] = f[1]
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			name := strings.ToUpper(names[uint8(n)])
			switch {
			case !found && strings.HasPrefix(name, strings.ToUpper(u.codec)+"/8000"):
				pt, found = uint8(n), true
			case dtmfPT < 0 && strings.HasPrefix(name, "TELEPHONE-EVENT/8000"):
				dtmfPT = n
			}
		}
		break
	}
	if !found || !addr.IsValid() {
		return addr, 0, -1, fmt.Errorf("testutil: no %s audio in SDP", u.codec)
	}
	return addr, pt, dtmfPT, nil
}

func (u *SIPUAS) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" { // re-INVITE: keep media as is
			if c := u.find(req.CallID().Value()); c != nil {
				_ = tx.Respond(sip.NewSDPResponseFromRequest(req, c.local))
				return
			}
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
	}
	at := time.Now()
	remote, pt, dtmfPT, err := u.remoteMedia(req.Body())
	if err != nil {
		u.failed.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := u.dua.ReadInvite(req, tx)
	if err != nil {
		u.failed.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	c, err := u.newCall(req.CallID().Value(), true, req, at)
	if err != nil {
		u.failed.Add(1)
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	c.server = dlg
	c.pt, c.remote = pt, remote
	c.local = u.localSDP(c.port(), pt, dtmfPT, rand.Uint64()>>2)
	c.remoteSDP = req.Body()
	if u.opts.Text {
		c.local = append(c.local, c.answerText(req.Body())...)
	}
	u.add(c)
	_ = dlg.Respond(100, "Trying", nil)
	if u.opts.Ring > 0 {
		_ = dlg.Respond(180, "Ringing", nil)
		select {
		case <-time.After(u.opts.Ring):
		case <-dlg.Context().Done():
			c.finish()
			return
		case <-u.ctx.Done():
			c.finish()
			return
		}
	}
	c.startMedia(dlg.Context())
	u.answered.Add(1)
	c.answeredAt.Store(time.Now().UnixNano())
	if err := dlg.RespondSDP(c.local); err != nil {
		c.finish()
	}
}

func (u *SIPUAS) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := u.find(req.CallID().Value()); c != nil && c.server != nil {
		_ = c.server.ReadAck(req, tx)
	}
}

func (u *SIPUAS) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.find(req.CallID().Value())
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.byeReceived.Store(true)
	var err error
	if c.server != nil {
		err = c.server.ReadBye(req, tx)
	} else {
		err = c.client.ReadBye(req, tx)
	}
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
	c.finish()
}

// Invite places a call to uri (e.g. sip:alice@127.0.0.1:5060) with our
// codec and telephone-event, and waits for the answer.
func (u *SIPUAS) Invite(ctx context.Context, uri string) (*SIPCall, error) {
	return u.InviteWith(ctx, uri)
}

// InviteWith is Invite with extra headers (an ACD's User-to-User).
func (u *SIPUAS) InviteWith(ctx context.Context, uri string, hdrs ...sip.Header) (*SIPCall, error) {
	var to sip.Uri
	if err := sip.ParseUri(uri, &to); err != nil {
		return nil, err
	}
	callID := sip.GenerateTagN(24)
	req := sip.NewRequest(sip.INVITE, to)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	c, err := u.newCall(callID, false, req, time.Now())
	if err != nil {
		return nil, err
	}
	c.local = u.localSDP(c.port(), u.pt, 101, rand.Uint64()>>2)
	if u.opts.Text {
		if err := c.openText(); err != nil {
			c.finish()
			return nil, err
		}
		c.local = append(c.local, rfc4103SDP(c.textPort(), 100, 98)...)
	}
	req.SetBody(c.local)
	u.add(c)
	dlg, err := u.dua.WriteInvite(ctx, req)
	if err != nil {
		u.failed.Add(1)
		c.finish()
		return nil, err
	}
	c.client = dlg
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		u.failed.Add(1)
		c.finish()
		return nil, err
	}
	remote, pt, _, err := u.remoteMedia(dlg.InviteResponse.Body())
	if err != nil {
		_ = dlg.Ack(ctx)
		_ = dlg.Bye(ctx)
		u.failed.Add(1)
		c.finish()
		return nil, err
	}
	c.pt, c.remote = pt, remote
	c.remoteSDP = dlg.InviteResponse.Body()
	if c.textConn != nil {
		if addr, red, t140, ok := textOffer(c.remoteSDP); ok && addr.Port() != 0 {
			c.text = NewRFC4103Peer(c.textConn, addr, red, t140)
		} else {
			_ = c.textConn.Close()
		}
	}
	if err := dlg.Ack(ctx); err != nil {
		u.failed.Add(1)
		c.finish()
		return nil, err
	}
	u.answered.Add(1)
	c.answeredAt.Store(time.Now().UnixNano())
	c.startMedia(dlg.Context())
	return c, nil
}

// SIPCall is one call of a SIPUAS.
type SIPCall struct {
	ID       string // Call-ID
	Inbound  bool   // the UAS received the INVITE
	InviteAt time.Time
	Invite   *sip.Request

	u      *SIPUAS
	conn   *net.UDPConn
	server *sipgo.DialogServerSession
	client *sipgo.DialogClientSession
	local  []byte
	pt     uint8
	remote netip.AddrPort
	rec    *recorder
	sent   atomic.Uint64

	remoteSDP []byte       // the far end's SDP (offer or answer)
	textConn  *net.UDPConn // UASOptions.Text: the m=text socket
	text      *RFC4103Peer // nil: no text on this call

	answeredAt  atomic.Int64
	byeReceived atomic.Bool
	silent      atomic.Bool
	media       sync.WaitGroup
	mediaStop   context.CancelFunc
	done        chan struct{}
	once        sync.Once
}

func (u *SIPUAS) newCall(id string, inbound bool, req *sip.Request, at time.Time) (*SIPCall, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	rec, err := newRecorder(u.codec, -1, max(u.opts.Record, 0))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &SIPCall{ID: id, Inbound: inbound, InviteAt: at, Invite: req, u: u, conn: conn, rec: rec, done: make(chan struct{})}, nil
}

func (c *SIPCall) port() int { return c.conn.LocalAddr().(*net.UDPAddr).Port }

// Header returns the value of header name in the INVITE ("" if absent).
func (c *SIPCall) Header(name string) string {
	if h := c.Invite.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// AnsweredAt is when the call was answered (zero if not yet).
func (c *SIPCall) AnsweredAt() time.Time {
	if n := c.answeredAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Silence stops the call's RTP for good, as when the peer vanished from
// the network (a crash, a lost link) — without BYE; it still answers SIP.
func (c *SIPCall) Silence() { c.silent.Store(true) }

// ByeReceived reports whether the far end hung up.
func (c *SIPCall) ByeReceived() bool { return c.byeReceived.Load() }

func (c *SIPCall) startMedia(dialog context.Context) {
	c.rec.setPT(int(c.pt))
	ctx, cancel := context.WithCancel(c.u.ctx)
	c.mediaStop = cancel
	c.media.Add(2)
	c.u.wg.Add(1)
	go func() { // the call ends when the dialog does
		defer c.u.wg.Done()
		select {
		case <-dialog.Done():
		case <-ctx.Done():
		case <-c.done:
		}
		c.finish()
	}()
	go func() {
		defer c.media.Done()
		buf := make([]byte, 1500)
		for {
			n, err := c.conn.Read(buf)
			if err != nil {
				return
			}
			c.rec.push(buf[:n])
		}
	}()
	go func() {
		defer c.media.Done()
		pkt := make([]byte, 12+160)
		ssrc := rand.Uint32()
		seq := uint16(rand.Uint32())
		ts := rand.Uint32()
		dst := net.UDPAddrFromAddrPort(c.remote)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			f := c.u.tone[i%len(c.u.tone)]
			pkt = pkt[:12+len(f)]
			pkt[0] = 0x80
			pkt[1] = c.pt & 0x7f
			if i == 0 {
				pkt[1] |= 0x80
			}
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			binary.BigEndian.PutUint32(pkt[8:], ssrc)
			copy(pkt[12:], f)
			if c.silent.Load() {
				// vanished from the media path: nothing sent
			} else if _, err := c.conn.WriteToUDP(pkt, dst); err == nil {
				c.sent.Add(1)
			} else if errors.Is(err, net.ErrClosed) {
				return
			}
			seq++
			ts += uint32(len(f))
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// finish stops the media and forgets the call.
func (c *SIPCall) finish() {
	c.once.Do(func() {
		close(c.done)
		if c.mediaStop != nil {
			c.mediaStop()
		}
		_ = c.conn.Close()
		if c.text != nil {
			c.text.Close()
		} else if c.textConn != nil {
			_ = c.textConn.Close()
		}
		c.media.Wait()
		c.u.remove(c)
	})
}

// Done is closed when the call is over.
func (c *SIPCall) Done() <-chan struct{} { return c.done }

// Hangup sends BYE (if the call is up) and ends the call.
func (c *SIPCall) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	var err error
	switch {
	case c.server != nil:
		err = c.server.Bye(ctx)
	case c.client != nil:
		err = c.client.Bye(ctx)
	}
	c.finish()
	return err
}

// Received returns a copy of the audio received so far (8 kHz).
func (c *SIPCall) Received() []int16 { return c.rec.PCM() }

// ResetReceived forgets the audio received so far.
func (c *SIPCall) ResetReceived() { c.rec.Reset() }

// SampleRate is the rate of Received.
func (c *SIPCall) SampleRate() int { return 8000 }

// Stats returns the call's RTP counters.
func (c *SIPCall) Stats() MediaStats {
	s := MediaStats{PacketsSent: c.sent.Load()}
	c.rec.fill(&s)
	return s
}

func (c *SIPCall) openText() error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	c.textConn = conn
	return nil
}

func (c *SIPCall) textPort() int { return c.textConn.LocalAddr().(*net.UDPAddr).Port }

// answerText is the m=text section answering offer's (none when the offer
// has none; port 0 with TextRefuse or when no socket can be had).
func (c *SIPCall) answerText(offer []byte) string {
	c.remoteSDP = offer
	addr, red, t140, ok := textOffer(offer)
	if !ok {
		return ""
	}
	if c.u.opts.TextRefuse || addr.Port() == 0 || c.openText() != nil {
		return rfc4103SDP(0, red, t140)
	}
	c.text = NewRFC4103Peer(c.textConn, addr, red, t140)
	return rfc4103SDP(c.textPort(), red, t140)
}

// RemoteSDP is the far end's SDP: the INVITE's offer (inbound) or the
// 200 OK's answer (outbound).
func (c *SIPCall) RemoteSDP() []byte { return c.remoteSDP }

// HasText reports whether the call carries RFC 4103 text (UASOptions.Text).
func (c *SIPCall) HasText() bool { return c.text != nil }

// Text is the call's RFC 4103 peer (nil without text): DropNext,
// SendBlocks, ReceiveStats.
func (c *SIPCall) Text() *RFC4103Peer { return c.text }

// SendText sends text to the far end as RFC 4103 red/t140 (an error
// without text).
func (c *SIPCall) SendText(text string) error {
	if c.text == nil {
		return errors.New("testutil: no text on this call")
	}
	c.text.Send(text)
	return nil
}

// ReceivedText is the text received from the far end so far.
func (c *SIPCall) ReceivedText() string {
	if c.text == nil {
		return ""
	}
	return c.text.Received()
}
