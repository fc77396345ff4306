package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// The external ACD as the interpreter pool (docs/interpreter.md §4.4):
// Kamailio stands in for the ACD's SIP front end. The hub queues the deaf
// user's session at sip:interp-ase@acd with the language in the Request-URI
// and in X-Split-Sign-Language; the ACD delivers it to interpreter int1's
// console hosted by the hub, with the session reference. The interpreter's
// voice then takes the ACD path (console → agent leg → ACD → queue leg),
// and in the session's listen matrix the queue leg stands in for the lead:
// tones show that the phone hears the interpreter through the ACD and not
// the deaf user, and that side-talk turns the interpreter to the deaf user.

const (
	ivACDToneDeaf    = 697.0
	ivACDToneInterp  = 1209.0
	ivACDToneInterp2 = 852.0
	ivACDTonePhone   = 1477.0
)

var ivACDTones = []float64{ivACDToneDeaf, ivACDToneInterp, ivACDToneInterp2, ivACDTonePhone}

var acdInterpRE = regexp.MustCompile(`ACD-INTERP queue=\[([^\]]*)\] mode=\[([^\]]*)\] sign=\[([^\]]*)\] lang=\[([^\]]*)\]`)

// ivBlockOf is a frame's interpreter object.
func ivBlockOf(t *testing.T, m testutil.Message) map[string]any {
	t.Helper()
	var f struct {
		Interpreter map[string]any `json:"interpreter"`
	}
	if err := json.Unmarshal(m.Raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Interpreter
}

// lastSecond is the level of hz in the last second a SIP call received.
func lastSecond(call *testutil.SIPCall, hz float64) float64 {
	pcm := call.Received()
	if len(pcm) < 8000 {
		return 0
	}
	return media.ToneLevel(pcm[len(pcm)-8000:], hz, 8000)
}

func TestInterpreterKamailioACD(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	k := startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "sip:int1@" + hubSIP})
	h := startHub(t, func(c *config.Config) {
		withInterpreter(c)
		c.SIP.Trunks = append(c.SIP.Trunks, config.Trunk{Name: "acd", URI: "sip:" + kamAddr, Transport: "udp", Codecs: []string{"PCMU", "PCMA"},
			InboundFrom: []string{"127.0.0.1"}})
		c.Sessions.Routes = []config.Route{{Name: "asl", Entry: "sign", SignLanguage: "ase", Target: "sip:interp-ase@" + kamAddr}}
		c.Interpreter.Dial.Trunk = "pbx"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	calls := make(chan *testutil.SIPCall, 4)
	phone, err := testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, ToneHz: ivACDTonePhone, Ring: 200 * time.Millisecond,
		OnCall: func(sc *testutil.SIPCall) { calls <- sc }})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	waitUDPListener(t, 15090, 10*time.Second)

	// int1 has two consoles open: the ACD's delivery rings both; the
	// second takes over when the first is lost.
	tok := h.agentToken("int1")
	int1, err := testutil.DialSession(ctx, sessionWS("token="+tok), ivACDToneInterp, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer int1.Close()
	int1b, err := testutil.DialSession(ctx, sessionWS("token="+tok), ivACDToneInterp2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer int1b.Close()

	deaf, err := testutil.DialSession(ctx, sessionWS("entry=sign"), ivACDToneDeaf, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.Close()
	if err := deaf.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": "910000300"}); err != nil {
		t.Fatal(err)
	}
	offer, err := int1.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	sid := offer.Session
	if oi := ivBlockOf(t, offer); oi["purpose"] != "interpret" || oi["sign_language"] != "ase" {
		t.Fatalf("offer.interpreter = %v", oi)
	}
	// What the ACD saw: the language in the Request-URI and the headers.
	m := waitKamLog(t, k, acdInterpRE, "ACD-DELIVER to ")
	if m[1] != "interp-ase" || m[2] != "interpreter" || m[3] != "ase" || m[4] != "en" {
		t.Fatalf("the ACD saw queue %q mode %q sign language %q language %q", m[1], m[2], m[3], m[4])
	}
	if q := acdQueueRE.FindStringSubmatch(k.log.String()); q == nil || q[2] != sid {
		t.Fatalf("the queue INVITE's X-Split-Session: %v, want %s", q, sid)
	}
	if s := getSession(t, sid); s["state"] != "ringing" {
		t.Fatalf("before an interpreter accepts the session is %v, want ringing (the ACD answering its queue call is not an interpreter)", s["state"])
	}
	if err := int1.Accept(ctx, offer); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "video between the deaf user and the console", func() bool {
		return deaf.VideoFrom(1) > 20 && int1.VideoFrom(9) > 20
	})
	s := getSession(t, sid)
	if s["state"] != "active" || legRoles(s) != "customer,acd,agent-path,interpreter" {
		t.Fatalf("session: state %v legs %s", s["state"], legRoles(s))
	}
	sf, err := deaf.WaitFor(ctx, func(m testutil.Message) bool {
		if m.Type != "session" {
			return false
		}
		i := ivBlockOf(t, m)
		l, _ := i["interpreters"].([]any)
		return i["acd"] == true && len(l) == 1 && l[0].(map[string]any)["lead"] == true
	})
	if err != nil {
		t.Fatalf("no session frame naming the ACD's interpreter as the lead: %v", err)
	}
	_ = sf

	// The ACD owns hand-off and team.
	if err := int1.Send(ctx, map[string]any{"type": "handoff", "session": sid, "to": "agent:int2"}); err != nil {
		t.Fatal(err)
	}
	if e, err := int1.WaitFor(ctx, frameIs("error")); err != nil || e.ErrorCode() != "conflict" {
		t.Fatalf("handoff through the ACD: %v %v, want conflict", e.ErrorCode(), err)
	}

	// The interpreter dials the hearing party.
	if err := int1.Send(ctx, map[string]any{"type": "dial", "session": sid}); err != nil {
		t.Fatal(err)
	}
	var call *testutil.SIPCall
	select {
	case call = <-calls:
	case <-ctx.Done():
		t.Fatal("the phone was never called")
	}
	eventually(t, 20*time.Second, "the phone hears the interpreter through the ACD, and not the deaf user", func() bool {
		return lastSecond(call, ivACDToneInterp) > 0.05 && lastSecond(call, ivACDToneDeaf) < 0.01
	})
	eventually(t, 10*time.Second, "the interpreter hears the phone through the ACD", func() bool {
		return int1.DominantHz(ivACDTones) == ivACDTonePhone
	})
	if lv := deaf.ToneLevel(ivACDTonePhone); lv > 0.01 {
		t.Errorf("the deaf user hears the phone at %.3f with HCO off", lv)
	}
	// Side-talk: the interpreter to the deaf user only.
	if err := int1.Send(ctx, map[string]any{"type": "side_talk", "session": sid, "side_talk": true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "side-talk: the deaf user hears the interpreter, the phone does not", func() bool {
		return deaf.DominantHz(ivACDTones) == ivACDToneInterp && lastSecond(call, ivACDToneInterp) < 0.01
	})
	if err := int1.Send(ctx, map[string]any{"type": "side_talk", "session": sid, "side_talk": false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "side-talk off", func() bool { return lastSecond(call, ivACDToneInterp) > 0.05 })

	// The console is lost: its ACD leg is hung up, the ACD (a proxy here)
	// ends the queue call with it, and the hub queues the session in the ACD
	// again with the deaf user and the phone kept. The ACD delivers it to
	// int1's other console, as a hand-off.
	int1.Close()
	offer2, err := int1b.WaitFor(ctx, func(m testutil.Message) bool {
		return m.Type == "offer" && m.Session == sid && ivBlockOf(t, m)["purpose"] == "handoff"
	})
	if err != nil {
		t.Fatalf("no second delivery after the interpreter was lost: %v\n%s", err, tail(k.log.String(), 3000))
	}
	eventually(t, 5*time.Second, "the ACD's log of the second queue call", func() bool {
		return strings.Count(k.log.String(), "ACD-INTERP queue=[interp-ase]") == 2
	})
	if err := int1b.Accept(ctx, offer2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the phone hears the new interpreter on the same call", func() bool {
		return lastSecond(call, ivACDToneInterp2) > 0.05 && deaf.VideoFrom(2) > 20
	})
	if call.ByeReceived() {
		t.Fatal("the phone got a BYE while the interpreter changed")
	}
	if total, _, _ := phone.Counts(); total != 1 {
		t.Errorf("the phone saw %d calls, want 1", total)
	}

	// The deaf user hangs up: the phone, the ACD and the console are told.
	if err := deaf.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := int1b.WaitFor(ctx, frameIs("ended")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the phone call did not end")
	}
	if !call.ByeReceived() {
		t.Error("the phone got no BYE")
	}
	eventually(t, 10*time.Second, "the session record", func() bool {
		s := getSession(t, sid)
		return s["state"] == "ended" && s["cause_code"] == float64(200)
	})
	// one BYE through the ACD for the first interpreter's call (lost), at least one at the end
	eventually(t, 5*time.Second, "BYEs through the ACD", func() bool { return strings.Count(k.log.String(), "REQ BYE") >= 2 })
	rec := getSession(t, sid)
	ib, _ := rec["interpreter"].(map[string]any)
	ims, _ := ib["interpreters"].([]any)
	if len(ims) != 2 {
		t.Fatalf("the record's interpreters: %v", ib["interpreters"])
	}
	for _, x := range ims {
		mm := x.(map[string]any)
		if mm["agent"] != "int1" || mm["lead_seconds"].(float64) <= 0 {
			t.Errorf("record interpreter %v: want int1 with lead time", mm)
		}
	}
	h.waitMetric("split_rtp_port_pairs_in_use 0", 10*time.Second)
}

// TestInterpreterKamailioACDEnds: the cells of docs/interpreter.md §8.3 that
// the walk above does not cross. After each, the session is ended with the
// cause, and the deaf user, the console and the phone were told.
func TestInterpreterKamailioACDEnds(t *testing.T) {
	needPeers(t, "kamailio", "kamcmd")
	type env struct {
		ctx        context.Context
		k          *kamailio
		h          *hub
		deaf, int1 *testutil.SessionPeer
		calls      chan *testutil.SIPCall
		sid        string
		offer      testutil.Message
	}
	setUp := func(t *testing.T, console bool) *env {
		e := &env{calls: make(chan *testutil.SIPCall, 4)}
		e.k = startKamailioCfg(t, "acd.cfg.tmpl", map[string]string{"Agent": "sip:int1@" + hubSIP})
		e.h = startHub(t, func(c *config.Config) {
			withInterpreter(c)
			c.SIP.Trunks = append(c.SIP.Trunks, config.Trunk{Name: "acd", URI: "sip:" + kamAddr, Transport: "udp", Codecs: []string{"PCMU", "PCMA"},
				InboundFrom: []string{"127.0.0.1"}})
			c.Sessions.Routes = []config.Route{{Name: "asl", Entry: "sign", SignLanguage: "ase", Target: "sip:interp-ase@" + kamAddr}}
			c.Interpreter.Dial.Trunk = "pbx"
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		e.ctx = ctx
		phone, err := testutil.StartUAS(testutil.UASOptions{Listen: pbxAddr, ToneHz: ivACDTonePhone, Ring: 200 * time.Millisecond,
			OnCall: func(sc *testutil.SIPCall) { e.calls <- sc }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = phone.Close() })
		waitUDPListener(t, 15090, 10*time.Second)
		if console {
			if e.int1, err = testutil.DialSession(ctx, sessionWS("token="+e.h.agentToken("int1")), ivACDToneInterp, 1, true); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.int1.Close)
		}
		if e.deaf, err = testutil.DialSession(ctx, sessionWS("entry=sign"), ivACDToneDeaf, 9, true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.deaf.Close)
		if err := e.deaf.Start(ctx, "Luis", map[string]any{"sign_language": "ase", "to": "910000300"}); err != nil {
			t.Fatal(err)
		}
		if console {
			if e.offer, err = e.int1.WaitFor(ctx, frameIs("offer")); err != nil {
				t.Fatal(err)
			}
			e.sid = e.offer.Session
		}
		return e
	}
	ended := func(t *testing.T, e *env, code int, reason string) {
		t.Helper()
		if _, err := e.deaf.WaitFor(e.ctx, frameIs("ended")); err != nil {
			t.Fatalf("the deaf user was not told: %v", err)
		}
		var s map[string]any
		eventually(t, 10*time.Second, "the ended record", func() bool {
			s = getSession(t, e.sid)
			return s["state"] == "ended"
		})
		if s["cause_code"] != float64(code) || s["cause"] != reason {
			t.Errorf("ended with %v %v, want %d %s", s["cause_code"], s["cause"], code, reason)
		}
		e.h.waitMetric("split_rtp_port_pairs_in_use 0", 10*time.Second)
	}

	t.Run("interpreter hangs up with the phone connected", func(t *testing.T) {
		e := setUp(t, true)
		if err := e.int1.Accept(e.ctx, e.offer); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "the call up", func() bool { return getSession(t, e.sid)["state"] == "active" })
		if err := e.int1.Send(e.ctx, map[string]any{"type": "dial", "session": e.sid}); err != nil {
			t.Fatal(err)
		}
		var call *testutil.SIPCall
		select {
		case call = <-e.calls:
		case <-e.ctx.Done():
			t.Fatal("the phone was never called")
		}
		eventually(t, 10*time.Second, "the phone answered", func() bool { return !call.AnsweredAt().IsZero() })
		if err := e.int1.Send(e.ctx, map[string]any{"type": "hangup", "session": e.sid}); err != nil {
			t.Fatal(err)
		}
		ended(t, e, 200, "Interpreter hung up")
		select {
		case <-call.Done():
		case <-e.ctx.Done():
			t.Fatal("the phone call did not end")
		}
		if !call.ByeReceived() {
			t.Error("the phone got no BYE")
		}
		// the queue call and the call the ACD delivered are one call through
		// this ACD (a proxy): one BYE through it ends both, whichever of the
		// hub's two BYEs gets there first
		eventually(t, 5*time.Second, "a BYE through the ACD", func() bool { return strings.Contains(e.k.log.String(), "REQ BYE") })
	})
	t.Run("deaf user hangs up while the console rings", func(t *testing.T) {
		e := setUp(t, true)
		if err := e.deaf.Send(e.ctx, map[string]any{"type": "hangup"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.int1.WaitFor(e.ctx, frameIs("cancel")); err != nil {
			t.Fatalf("the console's offer was not cancelled: %v", err)
		}
		ended(t, e, 487, "Customer abandoned")
		eventually(t, 5*time.Second, "the ACD told", func() bool {
			l := e.k.log.String()
			return strings.Contains(l, "REQ CANCEL") || strings.Contains(l, "REQ BYE")
		})
	})
	t.Run("the ACD refuses the queue call", func(t *testing.T) {
		// int1 has no console open: the hub refuses the delivery (480), the
		// ACD (a proxy) passes the refusal back on the queue call
		e := setUp(t, false)
		m, err := e.deaf.WaitFor(e.ctx, frameIs("ended"))
		if err != nil {
			t.Fatal(err)
		}
		e.sid = m.Session
		if m.Code() != 480 {
			t.Errorf("the deaf user's session ended %d %s, want 480", m.Code(), m.Reason)
		}
		e.h.waitMetric("split_rtp_port_pairs_in_use 0", 10*time.Second)
	})
}
