package e2e

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/split-hub/split/internal/config"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/testutil"
)

// srsPort records the RTP one SIPREC stream brings: its PCMU payloads,
// decoded.
type srsPort struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pcm  []int16
	pkts int
}

func listenSRS(t *testing.T, port int) *srsPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	p := &srsPort{conn: c}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12+160 || buf[1]&0x7F != 0 {
				continue
			}
			hdr := 12 + 4*int(buf[0]&0x0F)
			pcm := make([]int16, n-hdr)
			media.DecodeUlaw(pcm, buf[hdr:n])
			p.mu.Lock()
			p.pcm = append(p.pcm, pcm...)
			p.pkts++
			p.mu.Unlock()
			_ = binary.BigEndian.Uint16(buf[2:])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return p
}

// level is hz's level in the last second recorded.
func (p *srsPort) level(hz float64) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pcm) < 8000 {
		return 0
	}
	return media.ToneLevel(p.pcm[len(p.pcm)-8000:], hz, 8000)
}

func (p *srsPort) packets() int { p.mu.Lock(); defer p.mu.Unlock(); return p.pkts }

// pionCall has a pion customer (tone hz) call the default entry point and
// the ready agent ag answer; the customer closes with the test.
func pionCall(ctx context.Context, t *testing.T, ag *testutil.SessionPeer, hz float64) (*testutil.SessionPeer, testutil.Message) {
	t.Helper()
	cu, err := testutil.DialSession(ctx, sessionWS("entry=default"), hz, 9, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cu.Close)
	if err := cu.Start(ctx, "Ana", nil); err != nil {
		t.Fatal(err)
	}
	o, err := ag.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "offer" })
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Accept(ctx, o); err != nil {
		t.Fatal(err)
	}
	return cu, o
}

// TestSIPRECToSippSRS: a route records its sessions to a SIPREC server —
// sipp as the SRS checks the INVITE (Require: siprec, +sip.src, the
// multipart body's SDP labels and rs-metadata naming the session and its
// participants); the streams land on the test's ports, and each carries
// its participant's tone only (customer 440 Hz, agent 880 Hz). A transfer
// to a second agent (1000 Hz) is a re-INVITE with partial metadata and a
// third stream carrying the new agent; the session's end is the BYE.
func TestSIPRECToSippSRS(t *testing.T) {
	needPeers(t, "sipp")
	const cust, ag1, ag2 = 440.0, 880.0, 1000.0
	tones := []float64{cust, ag1, ag2}
	ports := []*srsPort{listenSRS(t, 17100), listenSRS(t, 17102), listenSRS(t, 17104)}
	srs := startSipp(t, "-sf", "sipp/siprec_srs.xml", "-t", "t1", "-i", "127.0.0.1", "-p", "15092", "-m", "1",
		"-set", "p1", "17100", "-set", "p2", "17102", "-set", "p3", "17104", "-trace_logs")
	h := startHub(t, func(cfg *config.Config) {
		forwardTo(pbxAddr, "queue:default", "agent1", "agent2")(cfg)
		cfg.SIP.Trunks = append(cfg.SIP.Trunks, config.Trunk{Name: "rec", URI: "sip:127.0.0.1:15092", Transport: "tcp", Codecs: []string{"PCMU"}})
		cfg.SIP.SIPREC = []config.SIPRECServer{{Name: "srs1", URI: "sip:srs@rec"}}
		for i := range cfg.Sessions.Routes {
			cfg.Sessions.Routes[i].SIPREC = "srs1"
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a1, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), ag1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	a2, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent2")), ag2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	for _, a := range []*testutil.SessionPeer{a1, a2} {
		_ = a.Send(ctx, map[string]any{"type": "login"})
	}
	_ = a1.Send(ctx, map[string]any{"type": "ready", "ready": true})
	if _, err := a1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
		t.Fatal(err)
	}
	cu, o := pionCall(ctx, t, a1, cust)
	eventually(t, 15*time.Second, "the recording's first two streams", func() bool {
		return ports[0].level(cust) > 0.05 && ports[1].level(ag1) > 0.05
	})
	check := func(p *srsPort, label int, own float64) {
		t.Helper()
		for _, f := range tones {
			lv := p.level(f)
			if f == own && lv < 0.05 || f != own && lv > 0.01 {
				t.Errorf("label %d: %.0f Hz at %.3f (its participant talks %.0f Hz)", label, f, lv, own)
			}
		}
	}
	check(ports[0], 1, cust)
	check(ports[1], 2, ag1)
	// the call itself is as usual
	if cu.DominantHz(tones) != ag1 || a1.DominantHz(tones) != cust {
		t.Errorf("the call's audio while recorded")
	}

	// transfer to agent2 (ready now): a re-INVITE with partial metadata and label 3
	_ = a2.Send(ctx, map[string]any{"type": "ready", "ready": true})
	if _, err := a2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
		t.Fatal(err)
	}
	if err := a1.Send(ctx, map[string]any{"type": "transfer", "session": o.Session, "to": "agent:agent2"}); err != nil {
		t.Fatal(err)
	}
	o2, err := a2.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "offer" })
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Accept(ctx, o2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the third stream (the new agent)", func() bool { return ports[2].level(ag2) > 0.05 })
	check(ports[2], 3, ag2)
	n := ports[1].packets()
	eventually(t, 5*time.Second, "the customer's stream going on", func() bool { return ports[0].level(cust) > 0.05 })
	if ports[1].packets() > n+5 {
		t.Errorf("the first agent's stream goes on after they left (%d packets more)", ports[1].packets()-n)
	}
	if err := cu.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
		t.Fatal(err)
	}
	if code := srs.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("the SRS scenario failed (exit %d): a check on the INVITE, the update or the BYE", code)
	}
}

// TestSIPRECEnds: an SRS that refuses the recording (488) and one that
// hangs up first: each is a siprec.* event and the call goes on, its audio
// unchanged; at the end no RTP port is left.
func TestSIPRECEnds(t *testing.T) {
	needPeers(t, "sipp")
	for _, c := range []struct{ scenario, event, code string }{
		{"sipp/siprec_srs_refuse.xml", "siprec.failed", `"code":488`},
		{"sipp/siprec_srs_bye.xml", "siprec.ended", `"siprec.started"`},
	} {
		t.Run(c.event, func(t *testing.T) {
			idle := testutil.IdleNow()
			srs := startSipp(t, "-sf", c.scenario, "-t", "t1", "-i", "127.0.0.1", "-p", "15092", "-mi", "127.0.0.1", "-mp", "17200", "-m", "1", "-trace_logs")
			h := startHub(t, func(cfg *config.Config) {
				forwardTo(pbxAddr, "queue:default", "agent1")(cfg)
				cfg.SIP.Trunks = append(cfg.SIP.Trunks, config.Trunk{Name: "rec", URI: "sip:127.0.0.1:15092", Transport: "tcp", Codecs: []string{"PCMU"}})
				cfg.SIP.SIPREC = []config.SIPRECServer{{Name: "srs1", URI: "sip:srs@rec"}}
				for i := range cfg.Sessions.Routes {
					cfg.Sessions.Routes[i].SIPREC = "srs1"
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			a1, err := testutil.DialSession(ctx, sessionWS("token="+h.agentToken("agent1")), 880, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			defer a1.Close()
			_ = a1.Send(ctx, map[string]any{"type": "login"})
			_ = a1.Send(ctx, map[string]any{"type": "ready", "ready": true})
			if _, err := a1.WaitFor(ctx, func(m testutil.Message) bool { return m.Type == "agent" && m.State == "ready" }); err != nil {
				t.Fatal(err)
			}
			cu, o := pionCall(ctx, t, a1, 440)
			eventually(t, 15*time.Second, c.event+" in the history", func() bool {
				ev := apiGet(t, "/v1/sessions/"+o.Session+"/events?format=json")
				return strings.Contains(ev, `"`+c.event+`"`) && strings.Contains(ev, c.code)
			})
			if code := srs.wait(t, 20*time.Second); code != 0 {
				t.Fatalf("the SRS scenario failed (exit %d)", code)
			}
			n := cu.AudioPackets()
			eventually(t, 5*time.Second, "the call's audio going on", func() bool {
				return cu.AudioPackets() > n+50 && cu.DominantHz([]float64{440, 880}) == 880 && a1.DominantHz([]float64{440, 880}) == 440
			})
			if err := cu.Send(ctx, map[string]any{"type": "hangup"}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the session's end", func() bool {
				return strings.Contains(apiGet(t, "/v1/sessions/"+o.Session), `"state":"ended"`)
			})
			cu.Close()
			a1.Close()
			eventually(t, 10*time.Second, "no RTP port left", func() bool { return testutil.IdleNow().Ports <= idle.Ports })
		})
	}
}
