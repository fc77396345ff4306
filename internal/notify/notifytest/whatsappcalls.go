package notifytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FakeBusinessNumber is the business's display phone number in the fake's
// webhooks (metadata.display_phone_number, and the business side of
// calls[].from/to).
const FakeBusinessNumber = "15550783881"

// CallingLimits are the Calling API's limits and timers the fake enforces
// (research whatsapp.md §5.1, §5.8, §7). Zero fields take the default.
type CallingLimits struct {
	MaxConcurrentCalls        int           // active calls per business number; 138002 beyond (default 1000)
	CallsPerDay               int           // connected business-initiated calls per user per 24 h; 138012 beyond (default 100)
	PermissionRequestsPerDay  int           // call-permission requests per user per 24 h; 138009 beyond (default 1)
	PermissionRequestsPerWeek int           // and per 7 days (default 2)
	TemporaryPermission       time.Duration // lifetime of an accepted temporary permission (default 7 days)
	// AcceptWindow is how long a user-initiated call waits for accept
	// before Meta gives up with a terminate FAILED webhook (default 30 s).
	AcceptWindow time.Duration
	// MediaStartTimeout / MediaMidTimeout: after the call is answered, no
	// media from the business for this long before its first packet /
	// after it, and Meta drops the call with terminate FAILED 138021
	// (defaults 20 s / 30 s; negative: never).
	MediaStartTimeout, MediaMidTimeout time.Duration
}

func (l CallingLimits) withDefaults() CallingLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxConcurrentCalls, 1000)
	def(&l.CallsPerDay, 100)
	def(&l.PermissionRequestsPerDay, 1)
	def(&l.PermissionRequestsPerWeek, 2)
	defD(&l.TemporaryPermission, 7*24*time.Hour)
	defD(&l.AcceptWindow, 30*time.Second)
	defD(&l.MediaStartTimeout, 20*time.Second)
	defD(&l.MediaMidTimeout, 30*time.Second)
	return l
}

// CallWebhookTraps switch on the delivery faults Meta documents for call
// webhooks (research whatsapp.md §2.2: no exactly-once, no ordering).
type CallWebhookTraps struct {
	// Duplicate delivers every calls webhook (and call_permission_reply)
	// twice, byte for byte.
	Duplicate bool
	// TerminateDelay holds terminate webhooks back this long (a late
	// terminate: the business may have ended the call long before).
	TerminateDelay time.Duration
}

// Calling API errors (research whatsapp.md §3.6, §8). HTTP statuses follow
// the troubleshooting page where it gives one, else 400.
var (
	Err131055 = GraphError{HTTPStatus: 400, Code: 131055, Message: "(#131055) Method not allowed",
		Details: "Graph API calls are not allowed for SIP enabled numbers"}
	Err138000 = GraphError{HTTPStatus: 401, Code: 138000, Message: "(#138000) Calling not enabled",
		Details: "Calling is not enabled for this business phone number"}
	Err138002 = GraphError{HTTPStatus: 429, Code: 138002, Message: "(#138002) Concurrent calls limit",
		Details: "The business phone number has reached its limit of concurrent calls"}
	Err138003 = GraphError{HTTPStatus: 400, Code: 138003, Message: "(#138003) Duplicate call",
		Details: "There is already an ongoing call with this user"}
	Err138006 = GraphError{HTTPStatus: 401, Code: 138006, Message: "(#138006) No approved call permission",
		Details: "The user has not approved a call permission request from this business"}
	Err138009 = GraphError{HTTPStatus: 400, Code: 138009, Message: "(#138009) Call permission request limit reached",
		Details: "The business has reached the limit of call permission requests to this user"}
	Err138012 = GraphError{HTTPStatus: 400, Code: 138012, Message: "(#138012) Business initiated calls limit reached",
		Details: "The business has reached the limit of connected calls to this user in 24 hours"}
	Err138017 = GraphError{HTTPStatus: 400, Code: 138017, Message: "(#138017) Permanent call permission already exists",
		Details: "The user has already granted a permanent call permission"}
	Err138021 = GraphError{HTTPStatus: 400, Code: 138021, Message: "Media receive timeout",
		Details: "No media was received from the business"}
)

// CallState is where a MetaCall is.
type CallState string

// Call states.
const (
	CallDialing     CallState = "dialing"      // business-initiated: connect accepted, not yet ringing
	CallRinging     CallState = "ringing"      // user-initiated: connect webhook sent; business-initiated: Ring
	CallPreAccepted CallState = "pre_accepted" // user-initiated: pre_accept received
	CallAccepted    CallState = "accepted"     // answered (accept, or Answer): media flows
	CallTerminated  CallState = "terminated"
)

// CallAction is one Graph /calls request the fake received for a call,
// accepted or refused.
type CallAction struct {
	Action    string // connect, pre_accept, accept, reject, terminate
	SDP       string // session.sdp
	BizOpaque string // biz_opaque_callback_data
	At        time.Time
	ErrorCode int // 0: accepted
	Details   string
}

// CallEnd is how a call ended.
type CallEnd struct {
	Status    string // "COMPLETED" or "FAILED", as in the terminate webhook
	By        string // "business" (terminate/reject), "user" (Hangup, Reject), "meta" (accept window, media timeout)
	ErrorCode int    // errors[0].code of the terminate webhook, 0 if none
	At        time.Time
	Duration  time.Duration // answered calls only
}

// MetaCall is one WhatsApp call as Meta sees it, with its Meta media peer.
type MetaCall struct {
	ID              string // "wacid.…"
	Direction       string // "USER_INITIATED" or "BUSINESS_INITIATED"
	User            string // the WhatsApp user's wa_id
	ProfileName     string
	CTAPayload      string // user-initiated from a voice_call button
	DeeplinkPayload string // user-initiated from a wa.me/call link

	f    *WhatsAppFake
	peer *MetaPeer

	mu          sync.Mutex
	state       CallState
	offer       string // business-initiated: the business's offer
	answer      string // user-initiated: the pre_accept/accept answer; business-initiated: Meta's answer
	applied     bool   // the business's SDP is applied to the peer
	bizOpaque   string
	created     time.Time
	acceptedAt  time.Time
	end         CallEnd
	actions     []CallAction
	acceptedCh  chan struct{}
	terminated  chan struct{}
	stopWindow  func() bool
	claimed     bool
	connectSent bool
}

// Peer is the call's Meta media peer.
func (c *MetaCall) Peer() *MetaPeer { return c.peer }

// State is where the call is.
func (c *MetaCall) State() CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Actions returns the Graph requests received for the call, in order.
func (c *MetaCall) Actions() []CallAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CallAction(nil), c.actions...)
}

// HasAction reports whether the business sent action (accepted) for the
// call.
func (c *MetaCall) HasAction(action string) bool {
	for _, a := range c.Actions() {
		if a.Action == action && a.ErrorCode == 0 {
			return true
		}
	}
	return false
}

// BizOpaque is the last biz_opaque_callback_data the business gave.
func (c *MetaCall) BizOpaque() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bizOpaque
}

// BusinessSDP is the business's SDP: its answer (user-initiated) or offer
// (business-initiated); "" before it sent one.
func (c *MetaCall) BusinessSDP() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Direction == "USER_INITIATED" {
		return c.answer
	}
	return c.offer
}

// End is how the call ended (zero while it is up).
func (c *MetaCall) End() CallEnd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// WaitAccepted waits until the call is answered: accept received
// (user-initiated) or Answer called (business-initiated). It fails if the
// call ends first.
func (c *MetaCall) WaitAccepted(ctx context.Context) error {
	select {
	case <-c.acceptedCh:
		return nil
	case <-c.terminated:
		select {
		case <-c.acceptedCh:
			return nil
		default:
		}
		return fmt.Errorf("notifytest: call %s ended before it was accepted: %+v", c.ID, c.End())
	case <-ctx.Done():
		return fmt.Errorf("notifytest: call %s not accepted (state %s): %w", c.ID, c.State(), ctx.Err())
	}
}

// WaitTerminated waits until the call ended and tells how.
func (c *MetaCall) WaitTerminated(ctx context.Context) (CallEnd, error) {
	select {
	case <-c.terminated:
		return c.End(), nil
	case <-ctx.Done():
		return CallEnd{}, fmt.Errorf("notifytest: call %s not terminated (state %s): %w", c.ID, c.State(), ctx.Err())
	}
}

// SendDTMF sends digits from the WhatsApp user (RFC 4733, see
// MetaPeer.SendDTMF).
func (c *MetaCall) SendDTMF(ctx context.Context, digits string) error {
	return c.peer.SendDTMF(ctx, digits)
}

// Hangup is the WhatsApp user hanging up: the call ends and Meta sends the
// terminate webhook (COMPLETED). It fails if the call already ended.
func (c *MetaCall) Hangup() error {
	if !c.f.endCall(c, "COMPLETED", "user", GraphError{}) {
		return fmt.Errorf("notifytest: call %s already ended", c.ID)
	}
	return nil
}

// Ring is a business-initiated call reaching the user's phone: Meta sends
// the connect webhook with its SDP answer, then the RINGING status. Media
// (ICE, DTLS) can be set up from now on; the user's audio starts with
// Answer.
func (c *MetaCall) Ring() error {
	c.mu.Lock()
	if c.Direction != "BUSINESS_INITIATED" || c.state != CallDialing {
		st := c.state
		c.mu.Unlock()
		return fmt.Errorf("notifytest: Ring: call %s is %s %s", c.ID, c.Direction, st)
	}
	c.state, c.connectSent = CallRinging, true
	c.mu.Unlock()
	f := c.f
	f.enqueueCall(f.callsHook(callValue(c, "connect", nil)), false)
	f.enqueueCall(f.callsHook(statusValue(c, "RINGING")), false)
	return nil
}

// Answer is the user picking up a business-initiated call (Ring first if
// the test did not): Meta sends the ACCEPTED status and the user's audio
// starts.
func (c *MetaCall) Answer() error {
	if c.State() == CallDialing {
		if err := c.Ring(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.state != CallRinging {
		st := c.state
		c.mu.Unlock()
		return fmt.Errorf("notifytest: Answer: call %s is %s", c.ID, st)
	}
	c.state, c.acceptedAt = CallAccepted, time.Now()
	close(c.acceptedCh)
	c.mu.Unlock()
	c.f.calls.countConnected(c.User)
	c.f.enqueueCall(c.f.callsHook(statusValue(c, "ACCEPTED")), false)
	c.peer.StartAudio()
	return nil
}

// Reject is the user declining a business-initiated call (Ring first if
// the test did not): Meta sends REJECTED, then terminate.
func (c *MetaCall) Reject() error {
	if c.State() == CallDialing {
		if err := c.Ring(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.state != CallRinging {
		st := c.state
		c.mu.Unlock()
		return fmt.Errorf("notifytest: Reject: call %s is %s", c.ID, st)
	}
	c.mu.Unlock()
	c.f.enqueueCall(c.f.callsHook(statusValue(c, "REJECTED")), false)
	c.f.endCall(c, "COMPLETED", "user", GraphError{})
	return nil
}

// callState is the Calling API side of WhatsAppFake; it owns the timers
// and the goroutines that close peers.
type callState struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	limits   CallingLimits
	traps    CallWebhookTraps
	calls    map[string]*MetaCall
	order    []*MetaCall
	changed  chan struct{} // closed and replaced when a call is added
	perms    map[string]*permState
	settings callingSettings
	posts    []SettingsPost
	sipPass  map[string]string // hostname → generated sip_user_password
}

func newCallState() *callState {
	cs := &callState{
		limits: CallingLimits{}.withDefaults(), calls: map[string]*MetaCall{}, perms: map[string]*permState{},
		changed: make(chan struct{}), sipPass: map[string]string{},
		settings: callingSettings{Status: "ENABLED", CallIconVisibility: "DEFAULT", CallbackPermissionStatus: "DISABLED"},
	}
	cs.ctx, cs.cancel = context.WithCancel(context.Background())
	return cs
}

// after runs fn after d on a goroutine the call state owns; stop cancels
// it (true if it had not started).
func (cs *callState) after(d time.Duration, fn func()) (stop func() bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return func() bool { return false }
	}
	cs.wg.Add(1)
	t := time.AfterFunc(d, func() {
		defer cs.wg.Done()
		if cs.ctx.Err() == nil {
			fn()
		}
	})
	return func() bool {
		if t.Stop() {
			cs.wg.Done()
			return true
		}
		return false
	}
}

// spawn runs fn on a goroutine the call state owns.
func (cs *callState) spawn(fn func()) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return
	}
	cs.wg.Add(1)
	go func() { defer cs.wg.Done(); fn() }()
}

// close ends every call, closes the peers and waits for the goroutines.
func (cs *callState) close() {
	cs.mu.Lock()
	cs.closed = true
	calls := cs.order
	cs.mu.Unlock()
	cs.cancel()
	for _, c := range calls {
		c.mu.Lock()
		stop := c.stopWindow
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
		c.peer.Close()
	}
	cs.wg.Wait()
}

// SetCallingLimits changes the limits and timers (zero fields: default).
// It applies to calls created afterwards.
func (f *WhatsAppFake) SetCallingLimits(l CallingLimits) {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	f.calls.limits = l.withDefaults()
}

// SetCallWebhookTraps switches the webhook delivery faults on or off.
func (f *WhatsAppFake) SetCallWebhookTraps(t CallWebhookTraps) {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	f.calls.traps = t
}

// Calls returns every call, oldest first.
func (f *WhatsAppFake) Calls() []*MetaCall {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	return append([]*MetaCall(nil), f.calls.order...)
}

// Call returns the call with wacid id, or nil.
func (f *WhatsAppFake) Call(id string) *MetaCall {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	return f.calls.calls[id]
}

// ActiveCalls counts the calls not terminated.
func (f *WhatsAppFake) ActiveCalls() int {
	n := 0
	for _, c := range f.Calls() {
		if c.State() != CallTerminated {
			n++
		}
	}
	return n
}

// WaitCall waits for the business to place a call (POST /calls connect)
// to user (wa_id, "+" optional) and returns it; each call is returned once.
func (f *WhatsAppFake) WaitCall(ctx context.Context, user string) (*MetaCall, error) {
	user = strings.TrimPrefix(user, "+")
	cs := f.calls
	for {
		cs.mu.Lock()
		for _, c := range cs.order {
			c.mu.Lock()
			ok := c.Direction == "BUSINESS_INITIATED" && c.User == user && !c.claimed
			if ok {
				c.claimed = true
			}
			c.mu.Unlock()
			if ok {
				cs.mu.Unlock()
				return c, nil
			}
		}
		ch := cs.changed
		cs.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("notifytest: no call to %s: %w", user, ctx.Err())
		}
	}
}

func (cs *callState) add(c *MetaCall) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.calls[c.ID] = c
	cs.order = append(cs.order, c)
	close(cs.changed)
	cs.changed = make(chan struct{})
}

// UserCallOption changes a user-initiated call.
type UserCallOption func(*userCall)

type userCall struct {
	cta, deeplink  string
	toneHz         float64
	hangsUpAtOnce  bool
	terminateFirst bool
	staleBy        time.Duration
}

// WithCTAPayload makes the call come from a voice_call button with this
// payload (cta_payload in the webhooks).
func WithCTAPayload(p string) UserCallOption { return func(u *userCall) { u.cta = p } }

// WithDeeplinkPayload makes the call come from a wa.me/call link with this
// biz_payload (deeplink_payload in the connect webhook).
func WithDeeplinkPayload(p string) UserCallOption { return func(u *userCall) { u.deeplink = p } }

// WithToneHz sets the tone the user's side plays (default 440 Hz).
func WithToneHz(hz float64) UserCallOption { return func(u *userCall) { u.toneHz = hz } }

// WithHangupAtOnce makes the user hang up right after calling: the call is
// terminated before the business can answer; with terminateFirst the
// terminate webhook is delivered before the connect webhook (Meta does not
// guarantee order).
func WithHangupAtOnce(terminateFirst bool) UserCallOption {
	return func(u *userCall) { u.hangsUpAtOnce, u.terminateFirst = true, terminateFirst }
}

// WithStaleConnect backdates the connect webhook's timestamp by d (a
// redelivered, stale event the business should ignore).
func WithStaleConnect(d time.Duration) UserCallOption { return func(u *userCall) { u.staleBy = d } }

// UserCalls is the WhatsApp user from (wa_id) with profile name calling
// the business: a Meta peer makes the SDP offer and the connect webhook
// goes out. The business must pre_accept/accept (same SDP answer) within
// the accept window or Meta sends terminate FAILED. The user's tone starts
// once the call is accepted and the business's first packet came in.
func (f *WhatsAppFake) UserCalls(ctx context.Context, from, profileName string, opts ...UserCallOption) (*MetaCall, error) {
	var u userCall
	for _, o := range opts {
		o(&u)
	}
	from = strings.TrimPrefix(from, "+")
	cs := f.calls
	cs.mu.Lock()
	lim := cs.limits
	callback := cs.settings.CallbackPermissionStatus == "ENABLED"
	sip := cs.sipMode()
	cs.mu.Unlock()
	if sip {
		return nil, errors.New("notifytest: the number is in SIP mode: Meta sends no calls webhooks")
	}
	c := newCall(f, "USER_INITIATED", from, profileName)
	c.CTAPayload, c.DeeplinkPayload = u.cta, u.deeplink
	peer, err := NewMetaPeer(MetaPeerOptions{ToneHz: u.toneHz, MediaStartTimeout: lim.MediaStartTimeout, MediaMidTimeout: lim.MediaMidTimeout,
		OnMediaTimeout: func(bool) { f.endCall(c, "FAILED", "meta", Err138021) }})
	if err != nil {
		return nil, err
	}
	c.peer = peer
	offer, err := peer.Offer(ctx)
	if err != nil {
		peer.Close()
		return nil, err
	}
	c.state = CallRinging
	cs.add(c)
	f.Inbound(from, time.Now()) // any inbound call opens the service window
	connect := callValue(c, "connect", map[string]any{"session": map[string]string{"sdp_type": "offer", "sdp": offer}})
	if u.staleBy > 0 {
		connect["calls"].([]any)[0].(map[string]any)["timestamp"] = unixStr(time.Now().Add(-u.staleBy))
	}
	c.mu.Lock()
	c.connectSent = true
	c.mu.Unlock()
	if u.hangsUpAtOnce {
		if u.terminateFirst {
			f.endCall(c, "COMPLETED", "user", GraphError{})
			f.enqueueCall(f.callsHook(connect), false)
		} else {
			f.enqueueCall(f.callsHook(connect), false)
			f.endCall(c, "COMPLETED", "user", GraphError{})
		}
		return c, nil
	}
	f.enqueueCall(f.callsHook(connect), false)
	unanswered := func(s CallState) bool { return s == CallRinging || s == CallPreAccepted }
	stop := cs.after(lim.AcceptWindow, func() { f.endCallIf(c, unanswered, "FAILED", "meta", GraphError{}) })
	c.mu.Lock()
	c.stopWindow = stop
	c.mu.Unlock()
	if callback {
		f.grantPermission(from, false, "automatic", c.ID)
	}
	return c, nil
}

func newCall(f *WhatsAppFake, dir, user, name string) *MetaCall {
	return &MetaCall{
		ID:        "wacid." + base64.RawURLEncoding.EncodeToString([]byte("HBgL"+user+"FQIAEhgg"+randHex(12))),
		Direction: dir, User: user, ProfileName: name, f: f, created: time.Now(),
		acceptedCh: make(chan struct{}), terminated: make(chan struct{}),
	}
}

// endCall terminates c once: it records how, sends the terminate webhook
// and closes the peer. It reports whether c was still up.
func (f *WhatsAppFake) endCall(c *MetaCall, status, by string, e GraphError) bool {
	return f.endCallIf(c, nil, status, by, e)
}

// endCallIf is endCall when ok (if not nil) accepts the call's state.
func (f *WhatsAppFake) endCallIf(c *MetaCall, ok func(CallState) bool, status, by string, e GraphError) bool {
	c.mu.Lock()
	if c.state == CallTerminated || ok != nil && !ok(c.state) {
		c.mu.Unlock()
		return false
	}
	c.state = CallTerminated
	now := time.Now()
	c.end = CallEnd{Status: status, By: by, ErrorCode: e.Code, At: now}
	if !c.acceptedAt.IsZero() {
		c.end.Duration = now.Sub(c.acceptedAt)
	}
	stop := c.stopWindow
	close(c.terminated)
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	v := callValue(c, "terminate", nil)
	call := v["calls"].([]any)[0].(map[string]any)
	call["status"] = status
	if !c.acceptedAt.IsZero() {
		call["start_time"], call["end_time"] = unixStr(c.acceptedAt), unixStr(now)
		call["duration"] = int(now.Sub(c.acceptedAt).Round(time.Second) / time.Second)
	}
	if e.Code != 0 {
		v["errors"] = []any{map[string]any{"code": e.Code, "message": e.Message, "href": "/documentation/business-messaging/whatsapp/calling/troubleshooting",
			"error_data": map[string]string{"details": e.Details}}}
	}
	f.enqueueCall(f.callsHook(v), true)
	f.calls.spawn(func() { c.peer.Close() })
	return true
}

// callsBody is every key of a POST /calls body.
type callsBody struct {
	MessagingProduct string `json:"messaging_product"`
	To               string `json:"to"`
	Recipient        string `json:"recipient"`
	CallID           string `json:"call_id"`
	Action           string `json:"action"`
	Session          *struct {
		SDPType string `json:"sdp_type"`
		SDP     string `json:"sdp"`
	} `json:"session"`
	BizOpaque     string          `json:"biz_opaque_callback_data"`
	Recording     json.RawMessage `json:"recording"`
	Transcription json.RawMessage `json:"transcription"`
}

func (f *WhatsAppFake) serveCallingPost(w http.ResponseWriter, edge, version string, raw []byte) {
	if edge == "settings" {
		f.postSettings(w, raw)
		return
	}
	var b callsBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		f.graphErr(w, invalidParam("Invalid parameter: "+err.Error()))
		return
	}
	res, e := f.callAction(b)
	if e != nil {
		f.graphErr(w, *e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

func callErr(code int, details string) *GraphError {
	return &GraphError{HTTPStatus: 400, Code: code, Message: "(#100) Invalid parameter", Details: details}
}

// callAction runs one /calls request; it returns the success body or the
// error.
func (f *WhatsAppFake) callAction(b callsBody) (any, *GraphError) {
	cs := f.calls
	switch {
	case b.MessagingProduct != "whatsapp":
		return nil, &GraphError{HTTPStatus: 400, Code: 100, Message: "(#100) The parameter messaging_product is required."}
	case b.Action == "":
		return nil, callErr(100, "The parameter action is required.")
	case runes(b.BizOpaque) > 512:
		return nil, callErr(100, "biz_opaque_callback_data is longer than 512 characters")
	}
	cs.mu.Lock()
	sip, enabled, g711, lim := cs.sipMode(), cs.settings.Status == "ENABLED", cs.g711(), cs.limits
	cs.mu.Unlock()
	if sip {
		e := Err131055
		return nil, &e
	}
	if !enabled {
		e := Err138000
		return nil, &e
	}
	if b.Action == "connect" {
		return f.connect(b, g711, lim)
	}
	if b.CallID == "" {
		return nil, callErr(100, "The parameter call_id is required.")
	}
	c := f.Call(b.CallID)
	if c == nil {
		return nil, callErr(100, "Invalid call_id: no call "+b.CallID)
	}
	act := CallAction{Action: b.Action, BizOpaque: b.BizOpaque, At: time.Now()}
	if b.Session != nil {
		act.SDP = b.Session.SDP
	}
	// Recorded before it takes effect: an accept or terminate wakes
	// WaitAccepted / WaitTerminated, whose callers then look for it.
	c.mu.Lock()
	c.actions = append(c.actions, act)
	i := len(c.actions) - 1
	c.mu.Unlock()
	e := f.callActionOn(c, b, g711)
	if e != nil {
		c.mu.Lock()
		c.actions[i].ErrorCode, c.actions[i].Details = e.Code, e.Details
		c.mu.Unlock()
	}
	if e != nil {
		return nil, e
	}
	return map[string]any{"messaging_product": "whatsapp", "success": true}, nil
}

func (f *WhatsAppFake) callActionOn(c *MetaCall, b callsBody, g711 bool) *GraphError {
	uic := c.Direction == "USER_INITIATED"
	switch b.Action {
	case "pre_accept", "accept":
		if !uic {
			return callErr(100, b.Action+" is only for user-initiated calls")
		}
		if b.Session == nil || b.Session.SDPType != "answer" {
			return callErr(100, "session with sdp_type answer is required for "+b.Action)
		}
		if d := checkCallSDP(b.Session.SDP, g711); d != "" {
			return callErr(100, d)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case c.state == CallTerminated:
			return callErr(138019, "the call has already ended")
		case c.state == CallAccepted:
			return callErr(100, "the call was already accepted")
		case c.state == CallPreAccepted && b.Session.SDP != c.answer:
			return callErr(100, "the SDP of accept must be the same as the SDP of pre_accept")
		case b.Action == "pre_accept" && c.state == CallPreAccepted:
			return nil // a repeated pre_accept with the same SDP is harmless
		}
		if !c.applied {
			if err := c.peer.SetAnswer(b.Session.SDP); err != nil {
				return callErr(100, "SDP validation error: "+err.Error())
			}
			c.applied, c.answer = true, b.Session.SDP
		}
		if b.BizOpaque != "" {
			c.bizOpaque = b.BizOpaque
		}
		if b.Action == "pre_accept" {
			c.state = CallPreAccepted
			return nil
		}
		c.state, c.acceptedAt = CallAccepted, time.Now()
		close(c.acceptedCh)
		stop := c.stopWindow
		c.stopWindow = nil
		if stop != nil {
			stop()
		}
		c.peer.StartAudio()
		return nil
	case "reject":
		if !uic {
			return callErr(100, "reject is only for user-initiated calls; use terminate")
		}
		switch c.State() {
		case CallTerminated:
			return callErr(138019, "the call has already ended")
		case CallAccepted:
			return callErr(100, "the call was accepted; use terminate")
		}
		f.endCall(c, "COMPLETED", "business", GraphError{})
		return nil
	case "terminate":
		if b.BizOpaque != "" {
			c.mu.Lock()
			c.bizOpaque = b.BizOpaque
			c.mu.Unlock()
		}
		if !f.endCall(c, "COMPLETED", "business", GraphError{}) {
			return callErr(138019, "the call has already ended")
		}
		return nil
	}
	return callErr(100, "action must be connect, pre_accept, accept, reject or terminate, not "+b.Action)
}

// connect places a business-initiated call.
func (f *WhatsAppFake) connect(b callsBody, g711 bool, lim CallingLimits) (any, *GraphError) {
	to := strings.TrimPrefix(b.To, "+")
	switch {
	case b.CallID != "":
		return nil, callErr(100, "call_id is not a parameter of connect")
	case to == "" && b.Recipient == "":
		return nil, callErr(100, "The parameter to is required.")
	case to != "" && !waNumber.MatchString(to):
		return nil, callErr(100, "Invalid parameter: to is not a valid phone number")
	case b.Session == nil || b.Session.SDPType != "offer":
		return nil, callErr(100, "session with sdp_type offer is required for connect")
	}
	if to == "" {
		to = b.Recipient
	}
	if d := checkCallSDP(b.Session.SDP, g711); d != "" {
		return nil, callErr(100, d)
	}
	if e := f.calls.mayCall(to, lim); e != nil {
		return nil, e
	}
	active := 0
	for _, c := range f.Calls() {
		if st := c.State(); st != CallTerminated {
			active++
			if c.User == to {
				e := Err138003
				return nil, &e
			}
		}
	}
	if active >= lim.MaxConcurrentCalls {
		e := Err138002
		return nil, &e
	}
	c := newCall(f, "BUSINESS_INITIATED", to, "")
	c.bizOpaque, c.offer, c.applied, c.state = b.BizOpaque, b.Session.SDP, true, CallDialing
	peer, err := NewMetaPeer(MetaPeerOptions{MediaStartTimeout: lim.MediaStartTimeout, MediaMidTimeout: lim.MediaMidTimeout,
		OnMediaTimeout: func(bool) { f.endCall(c, "FAILED", "meta", Err138021) }})
	if err != nil {
		return nil, &GraphError{HTTPStatus: 500, Code: 138004, Message: "(#138004) Connection error", Details: err.Error()}
	}
	c.peer = peer
	ctx, cancel := context.WithTimeout(f.calls.ctx, 10*time.Second)
	defer cancel()
	ans, err := peer.Answer(ctx, b.Session.SDP)
	if err != nil {
		peer.Close()
		return nil, callErr(100, "SDP validation error: "+err.Error())
	}
	c.answer = ans
	c.actions = []CallAction{{Action: "connect", SDP: b.Session.SDP, BizOpaque: b.BizOpaque, At: time.Now()}}
	f.calls.add(c)
	return map[string]any{"messaging_product": "whatsapp", "calls": []any{map[string]string{"id": c.ID}}}, nil
}

func unixStr(t time.Time) string { return fmt.Sprint(t.Unix()) }

// callValue is the value of a calls webhook about c with one calls[] entry.
func callValue(c *MetaCall, event string, extra map[string]any) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := map[string]any{"id": c.ID, "event": event, "timestamp": unixStr(time.Now()), "direction": c.Direction}
	contact := map[string]any{"wa_id": c.User}
	if c.Direction == "USER_INITIATED" {
		call["from"], call["to"] = c.User, FakeBusinessNumber
		if c.ProfileName != "" {
			contact["profile"] = map[string]string{"name": c.ProfileName}
		}
		if c.CTAPayload != "" {
			call["cta_payload"] = c.CTAPayload
		}
		if c.DeeplinkPayload != "" && event == "connect" {
			call["deeplink_payload"] = c.DeeplinkPayload
		}
	} else {
		call["from"], call["to"] = FakeBusinessNumber, c.User
		if event == "connect" {
			call["session"] = map[string]string{"sdp_type": "answer", "sdp": c.answer}
		}
	}
	if c.bizOpaque != "" {
		call["biz_opaque_callback_data"] = c.bizOpaque
	}
	for k, v := range extra {
		call[k] = v
	}
	v := map[string]any{"calls": []any{call}}
	if event == "connect" {
		v["contacts"] = []any{contact}
	}
	return v
}

// statusValue is a calls webhook value with one status of a
// business-initiated call.
func statusValue(c *MetaCall, status string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := map[string]any{"id": c.ID, "type": "call", "status": status, "timestamp": unixStr(time.Now()), "recipient_id": c.User}
	if c.bizOpaque != "" {
		st["biz_opaque_callback_data"] = c.bizOpaque
	}
	return map[string]any{"statuses": []any{st}}
}
