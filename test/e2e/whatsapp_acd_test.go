package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	splithub "github.com/split-hub/split/internal/hub"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/notify/notifytest"
	"github.com/split-hub/split/internal/testutil"
)

// WhatsApp mode through an external ACD: a WhatsApp user's call (the
// contract fake of Meta's Graph signalling and media relay,
// internal/notify/notifytest) comes in at the entry point "whatsapp", whose
// route is a queue on an external ACD (sipp). The ACD's media server is
// acdMedia below: an RTP relay that bridges the ACD's queue call and the
// agent call it places back to the hub, as an ACD anchoring media would, so
// the WhatsApp user and the agent hear each other through the ACD path.

const (
	toneWA       = 852.0
	waUserE164   = "+16505551234"
	waProfile    = "Sheena Nelson"
	waVerifyTok  = "e2e-verify"
	acdRelayA    = 16400 // the ACD media server's port for the queue call
	acdRelayB    = 16500 // … and for the agent call
	acdTelEvtPT  = 101
	acdPCMAPT    = 8
	waACDTimeout = 120 * time.Second
)

var waTones = []float64{toneWA, toneAgent, toneCustomer}

// acdMedia is the ACD's media server: RTP that reaches port A (from the
// hub's queue leg) goes to the hub's agent-path leg, and RTP that reaches B
// goes to the hub's queue leg. It decodes the PCMA it relays and detects the
// RFC 4733 digits, for the test to see what the ACD received.
type acdMedia struct {
	a, b *net.UDPConn
	wg   sync.WaitGroup

	mu         sync.Mutex
	peerA      *net.UDPAddr // the hub's RTP address on the queue call (its SDP)
	peerB      *net.UDPAddr // … on the agent call
	pcmA, pcmB []int16      // PCMA decoded from A (the WhatsApp user's voice) and B (the agent's)
	digitsA    string       // RFC 4733 digits the hub sent on the queue call
	detA       media.DTMFDetector
	otherPT    map[uint8]int

	pktsA, pktsB, dtmfA, relayed atomic.Uint64
}

func startACDMedia(t *testing.T) *acdMedia {
	t.Helper()
	m := &acdMedia{otherPT: map[uint8]int{}}
	var err error
	if m.a, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: acdRelayA}); err != nil {
		t.Fatal(err)
	}
	if m.b, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: acdRelayB}); err != nil {
		m.a.Close()
		t.Fatal(err)
	}
	m.wg.Add(2)
	go m.pump(m.a, true)
	go m.pump(m.b, false)
	t.Cleanup(func() {
		m.a.Close()
		m.b.Close()
		m.wg.Wait()
	})
	return m
}

// setPeer sets the hub's RTP address of the queue call (onA) or the agent call.
func (m *acdMedia) setPeer(onA bool, addr string) error {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if onA {
		m.peerA = ua
	} else {
		m.peerB = ua
	}
	m.mu.Unlock()
	return nil
}

const acdKeep = 8000 * 4 // seconds of decoded audio kept per side

func (m *acdMedia) pump(c *net.UDPConn, isA bool) {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	pcm := make([]int16, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		hl, _, err := media.RTPHeaderLen(buf[:n])
		if err != nil {
			continue
		}
		pt := buf[1] & 0x7f
		m.mu.Lock()
		switch pt {
		case acdPCMAPT:
			k := media.DecodeAlaw(pcm, buf[hl:n])
			if isA {
				m.pktsA.Add(1)
				m.pcmA = keepLast(append(m.pcmA, pcm[:k]...), acdKeep)
			} else {
				m.pktsB.Add(1)
				m.pcmB = keepLast(append(m.pcmB, pcm[:k]...), acdKeep)
			}
		case acdTelEvtPT:
			if isA {
				m.dtmfA.Add(1)
				if d, ok := m.detA.Push(binary.BigEndian.Uint32(buf[4:8]), buf[hl:n]); ok {
					m.digitsA += string(d)
				}
			}
		default:
			m.otherPT[pt]++
		}
		dst, out := m.peerB, m.b // the queue call's packets go to the agent call, from B's port
		if !isA {
			dst, out = m.peerA, m.a
		}
		m.mu.Unlock()
		if dst != nil {
			if _, err := out.WriteToUDP(buf[:n], dst); err == nil {
				m.relayed.Add(1)
			}
		}
	}
}

func keepLast(p []int16, n int) []int16 {
	if len(p) > n {
		return append(p[:0], p[len(p)-n:]...)
	}
	return p
}

// heard returns the dominant tone among waTones and its level in the last
// second of what the ACD received on A (queue call) or B (agent call).
func (m *acdMedia) heard(onA bool) (hz, level float64) {
	m.mu.Lock()
	p := m.pcmB
	if onA {
		p = m.pcmA
	}
	if len(p) > 8000 {
		p = p[len(p)-8000:]
	}
	p = append([]int16(nil), p...)
	m.mu.Unlock()
	if len(p) < 1600 {
		return 0, 0
	}
	hz = media.DominantFrequency(p, 8000, waTones)
	return hz, media.ToneLevel(p, hz, 8000)
}

func (m *acdMedia) others() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprint(m.otherPT)
}

func (m *acdMedia) digits() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.digitsA
}

// sippLog waits for pattern's first submatch in the -trace_logs file of a
// sipp scenario (name without .xml).
func sippLog(t *testing.T, s *sipp, scenario, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	p := filepath.Join(artifacts(t), fmt.Sprintf("%s_%d_logs.log", scenario, s.cmd.Process.Pid))
	var got string
	eventually(t, 10*time.Second, scenario+" logging "+pattern, func() bool {
		b, _ := os.ReadFile(p)
		if m := re.FindSubmatch(b); m != nil {
			got = string(m[1])
			return true
		}
		return false
	})
	return got
}

// waToACD routes the entry point "whatsapp" of the fake's business number
// to the ACD queue sip:support@pbxAddr (trunk "acd", PCMU/PCMA).
func waToACD(f *notifytest.WhatsAppFake) func(*config.Config) {
	return func(c *config.Config) {
		forwardTo(pbxAddr, "sip:support@"+pbxAddr, "agent1")(c)
		c.WhatsApp = &config.WhatsApp{BaseURL: f.URL, Version: f.Version, AppSecret: f.AppSecret, VerifyToken: waVerifyTok,
			Numbers: []config.WhatsAppNumber{{PhoneNumberID: f.PhoneNumberID, Number: "+" + notifytest.FakeBusinessNumber, AccessToken: f.AccessToken, Entry: "whatsapp"}}}
		c.Sessions.EntryPoints = append(c.Sessions.EntryPoints, config.EntryPoint{Name: "whatsapp"})
		c.Sessions.Routes = []config.Route{{Name: "wa-acd", Entry: "whatsapp", Target: "sip:support@" + pbxAddr}}
	}
}

// TestWhatsAppThroughACD: a WhatsApp user calls the business; the hub
// pre-accepts at once and dials the ACD's queue with the session's
// User-to-User and X-Split-Session, the WhatsApp number as caller ID and
// the profile name as display name; the WhatsApp call is accepted when the
// ACD answers, not while it rings. The ACD delivers the call to agent1's
// console (an agent endpoint hosted by the hub, carrying the UUI it
// received); the agent answers. Tones cross both ways between Meta's media
// relay (Opus) and the agent console through the ACD (PCMA on both ACD
// calls), and the ACD measures both; a DTMF string pressed on WhatsApp
// reaches the ACD as RFC 4733 events. The WhatsApp user hangs up: both ACD
// calls get the hub's BYE, the agent is told, the session ends "Customer
// hung up" and the hub sends no terminate for a call Meta ended.
func TestWhatsAppThroughACD(t *testing.T) {
	needPeers(t, "sipp")
	f := notifytest.StartWhatsApp(t)
	h := startHub(t, waToACD(f))
	ctx, cancel := context.WithTimeout(context.Background(), waACDTimeout)
	defer cancel()
	if err := f.Subscribe(ctx, "http://"+hubHTTP+"/v1/whatsapp/webhook", waVerifyTok); err != nil {
		t.Fatalf("webhook verification: %v", err)
	}
	relay := startACDMedia(t)
	acd := startSipp(t, "-sf", "sipp/whatsapp_acd_queue.xml", "-key", "relay", fmt.Sprint(acdRelayA),
		"-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1", "-mp", "16000", "-m", "1", "-trace_logs")
	agent, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), toneAgent, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()

	call, err := f.UserCalls(ctx, waUserE164, waProfile, notifytest.WithToneHz(toneWA))
	if err != nil {
		t.Fatal(err)
	}
	// What the ACD received on the hub's INVITE.
	sid := sippLog(t, acd, "whatsapp_acd_queue", `SESSION=\s*(\S+)`)
	uui := sippLog(t, acd, "whatsapp_acd_queue", `UUI=\s*(\S+)`)
	from := sippLog(t, acd, "whatsapp_acd_queue", `FROMHDR=\s*(.*\S)`)
	if got, err := splithub.ParseUUI(uui); err != nil || got != sid || !strings.HasPrefix(uui, "00") || !strings.Contains(uui, ";encoding=hex") {
		t.Errorf("User-to-User %q decodes to %q (%v), want 00-prefixed hex of session %s", uui, got, err, sid)
	}
	s := getSession(t, sid)
	if s["mode"] != "whatsapp" {
		t.Fatalf("X-Split-Session %q names a session of mode %v", sid, s["mode"])
	}
	fm := regexp.MustCompile(`^\s*(?:"([^"]*)"|([^<]*?))\s*<sip:([^@;>]*)@`).FindStringSubmatch(from)
	if fm == nil {
		t.Fatalf("the ACD's From %q", from)
	}
	if name, user := fm[1]+fm[2], fm[3]; user != waUserE164 || name != waProfile {
		t.Errorf("the ACD saw caller ID %q, display name %q (From: %s); want %q, %q (the WhatsApp number and profile name)",
			user, name, from, waUserE164, waProfile)
	}
	// pre_accepted at once; not accepted while the ACD rings (3 s). Reading
	// "accept sent" before "session active" makes this race-free: an accept
	// seen with the session still not active was sent before the answer.
	eventually(t, 10*time.Second, "pre_accept", func() bool { return call.HasAction("pre_accept") })
	for i := 0; i < 10; i++ {
		accepted := call.HasAction("accept")
		st := getSession(t, sid)["state"]
		if accepted && st != "active" {
			t.Fatalf("the hub accepted the WhatsApp call while the ACD was ringing (session %v)", st)
		}
		if st == "active" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := call.WaitAccepted(ctx); err != nil {
		t.Fatal(err)
	}
	var acceptAt time.Time
	for _, a := range call.Actions() {
		if a.ErrorCode != 0 {
			t.Errorf("Meta refused %s: %d %s", a.Action, a.ErrorCode, a.Details)
		}
		if a.Action == "accept" {
			acceptAt = a.At
		}
	}
	if at := activeAt(t, sid); at.IsZero() || acceptAt.Before(at) {
		t.Errorf("accept sent at %s, the ACD answered (session active) at %s", acceptAt.Format(time.StampMicro), at.Format(time.StampMicro))
	}
	hubA := sippLog(t, acd, "whatsapp_acd_queue", `HUBRTP=(\S+)`)
	if err := relay.setPeer(true, hubA); err != nil {
		t.Fatalf("the hub's RTP address on the ACD call %q: %v", hubA, err)
	}

	// The ACD delivers the call to agent1 at the hub, with the UUI it got.
	leg := startSipp(t, hubSIP, "-sf", "sipp/whatsapp_acd_agent.xml", "-s", "agent1", "-key", "uui", uui, "-key", "relay", fmt.Sprint(acdRelayB),
		"-i", "127.0.0.1", "-p", "15094", "-mi", "127.0.0.1", "-mp", "16100", "-m", "1", "-trace_logs")
	o, err := agent.WaitFor(ctx, frameIs("offer"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Session != sid {
		t.Fatalf("agent1's offer is for %s, want %s", o.Session, sid)
	}
	if err := agent.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	hubB := sippLog(t, leg, "whatsapp_acd_agent", `HUBRTP=(\S+)`)
	if err := relay.setPeer(false, hubB); err != nil {
		t.Fatalf("the hub's RTP address on the agent call %q: %v", hubB, err)
	}
	eventually(t, 10*time.Second, "the agent's call through the ACD", func() bool {
		return strings.HasSuffix(legRoles(getSession(t, sid)), "agent-path,agent")
	})

	// Tones both ways through the ACD path, transcoded Opus ⇄ PCMA ⇄ PCMU.
	if err := call.Peer().WaitTone(ctx, toneAgent, 30); err != nil {
		t.Fatalf("the agent's voice at the WhatsApp user: %v (stats %+v)", err, call.Peer().Stats())
	}
	eventually(t, 15*time.Second, "the WhatsApp user's voice at the agent", func() bool { return agent.DominantHz(waTones) == toneWA })
	waitOrLog(t, 10*time.Second, "the ACD hearing both tones in PCMA", func() (bool, string) {
		a, la := relay.heard(true)
		b, lb := relay.heard(false)
		return a == toneWA && b == toneAgent, fmt.Sprintf("queue call %.0f Hz (%.3f), agent call %.0f Hz (%.3f), packets %d/%d",
			a, la, b, lb, relay.pktsA.Load(), relay.pktsB.Load())
	})
	eventually(t, 15*time.Second, "100 packets each way at every hop", func() bool {
		st := call.Peer().Stats()
		return st.PacketsIn >= 100 && agent.AudioPackets() >= 100 && relay.pktsA.Load() >= 100 && relay.pktsB.Load() >= 100
	})
	hzA, lvA := relay.heard(true)
	hzB, lvB := relay.heard(false)
	st := call.Peer().Stats()
	t.Logf("Meta peer: in %d out %d Opus packets (early %d, decode errors %d), %.0f Hz heard; agent: %d packets, %.0f Hz at level %.3f",
		st.PacketsIn, st.PacketsOut, st.EarlyIn, st.DecodeErrors, call.Peer().DominantHz(), agent.AudioPackets(), agent.DominantHz(waTones), agent.ToneLevel(toneWA))
	t.Logf("ACD media: queue call %d PCMA packets (%.0f Hz at level %.3f), agent call %d PCMA packets (%.0f Hz at level %.3f), %d relayed, other PTs %v",
		relay.pktsA.Load(), hzA, lvA, relay.pktsB.Load(), hzB, lvB, relay.relayed.Load(), relay.others())
	if st.EarlyIn != 0 {
		t.Errorf("%d packets reached Meta before the accept", st.EarlyIn)
	}
	if lvA < 0.05 || lvB < 0.05 {
		t.Errorf("tone levels at the ACD: WhatsApp %.3f, agent %.3f (want ≥ 0.05 of full scale)", lvA, lvB)
	}

	// DTMF pressed on WhatsApp reaches the ACD (its IVR) as RFC 4733.
	if err := call.SendDTMF(ctx, "1234#"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the digits at the ACD", func() bool { return relay.digits() == "1234#" })
	t.Logf("DTMF: the ACD got %q in %d telephone-event packets", relay.digits(), relay.dtmfA.Load())

	// The WhatsApp user hangs up.
	if err := call.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "ended" && m.Session == sid }); err != nil {
		t.Fatalf("the agent was not told: %v", err)
	}
	if code := acd.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD queue call: sipp exit %d (want the hub's BYE)", code)
	}
	if code := leg.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("ACD agent call: sipp exit %d (want the hub's BYE)", code)
	}
	eventually(t, 10*time.Second, "the session's end", func() bool { return getSession(t, sid)["state"] == "ended" })
	if s := getSession(t, sid); s["cause_code"] != float64(200) || s["cause"] != "Customer hung up" {
		t.Errorf("the session ended with %v %v", s["cause_code"], s["cause"])
	}
	if call.HasAction("terminate") {
		t.Error("the hub sent terminate for a call the user ended")
	}
}

// waitOrLog is eventually with what was last seen when it times out.
func waitOrLog(t *testing.T, within time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	var last string
	eventually(t, within, what, func() bool {
		ok, s := f()
		if !ok && s != last {
			last = s
			t.Logf("waiting for %s: %s", what, s)
		}
		return ok
	})
}

// activeAt is when the session turned active (the ACD answered).
func activeAt(t *testing.T, sid string) time.Time {
	t.Helper()
	s := getSession(t, sid)
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s["answered_at"]))
	if err != nil {
		t.Logf("the session has no answered_at: %v", s)
	}
	return at
}
