package e2e

// Helpers to run Debian's baresip 1.0.0 as a headless SIP video phone: a
// config generated into t.TempDir() (loopback only, no sound card: aufile
// tone in, aubridge null sink out, fakevideo camera and display), control and
// events over ctrl_tcp (netstring-framed JSON), and the per-call RTP
// statistics baresip prints when a call ends (rtp_stats yes).

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// baresipOpts describes one baresip instance.
type baresipOpts struct {
	Name     string   // used for the aubridge device and artifact names
	SIPPort  int      // sip_listen 127.0.0.1:SIPPort
	RTPPorts string   // rtp_ports, e.g. "20000-20099"
	CtrlPort int      // ctrl_tcp_listen 127.0.0.1:CtrlPort
	Account  string   // the accounts line
	Modules  []string // codec modules (besides the fixed I/O ones), e.g. "g711", "vp8"
	ToneHz   float64  // frequency of the generated aufile tone
}

// baresipUA is a running baresip process.
type baresipUA struct {
	t    *testing.T
	opts baresipOpts
	dir  string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error

	conn    net.Conn
	mu      sync.Mutex
	events  []baresipEvent
	evCh    chan struct{} // closed and replaced on every new event
	resps   map[string]chan baresipResp
	tokenN  int
	readErr error
}

type baresipEvent struct {
	Type      string          `json:"type"`
	Class     string          `json:"class"`
	Direction string          `json:"direction"`
	PeerURI   string          `json:"peeruri"`
	ID        string          `json:"id"`
	Param     string          `json:"param"`
	RTCPStats json.RawMessage `json:"rtcp_stats"`
}

type baresipResp struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// writeToneWAV writes secs seconds of a 48 kHz mono s16le sine at hz: the
// aufile source must match ausrc_srate/ausrc_channels exactly.
func writeToneWAV(path string, hz float64, secs int) error {
	const rate = 48000
	n := rate * secs
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(12000 * math.Sin(2*math.Pi*hz*float64(i)/rate))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return os.WriteFile(path, b, 0o644)
}

// baresipConfig is the config file. Traps (see the harness notes): bind to
// 127.0.0.1 by address (net_interface lo fails), a loopback DNS server so no
// resolver socket reaches out, no stdio.so (stdin is /dev/null), aubridge as
// the null audio sink, fakevideo as camera and display.
func baresipConfig(o baresipOpts, dir, wav string) string {
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%-24s%s\n", k, v) }
	kv("poll_method", "epoll")
	kv("sip_listen", fmt.Sprintf("127.0.0.1:%d", o.SIPPort))
	kv("call_local_timeout", "120")
	kv("call_max_calls", "4")
	kv("audio_path", "/usr/share/baresip")
	kv("audio_player", "aubridge,null-"+o.Name)
	kv("audio_alert", "aubridge,null-"+o.Name)
	kv("audio_source", "aufile,"+wav)
	kv("ausrc_srate", "48000")
	kv("ausrc_channels", "1")
	kv("audio_buffer", "20-160")
	kv("video_source", "fakevideo,nil")
	kv("video_display", "fakevideo,nil")
	kv("video_size", "640x360")
	kv("video_bitrate", "500000")
	kv("video_fps", "25.00")
	kv("video_fullscreen", "no")
	kv("videnc_format", "yuv420p")
	kv("rtp_ports", o.RTPPorts)
	kv("rtcp_mux", "no")
	kv("jitter_buffer_delay", "5-10")
	kv("rtp_stats", "yes")
	kv("net_interface", "127.0.0.1")
	kv("dns_server", "127.0.0.1:53")
	kv("statmode_default", "off")
	kv("module_path", "/usr/lib/baresip/modules")
	for _, m := range append(append([]string{}, o.Modules...), "aufile", "aubridge", "fakevideo") {
		kv("module", m+".so")
	}
	kv("module_tmp", "account.so")
	kv("module_app", "contact.so")
	kv("module_app", "menu.so")
	kv("module_app", "ctrl_tcp.so")
	kv("ctrl_tcp_listen", fmt.Sprintf("127.0.0.1:%d", o.CtrlPort))
	return b.String()
}

// startBaresip writes the config into a temp dir, starts baresip and connects
// to its ctrl_tcp port. Its log is saved to artifacts(t) when the test ends.
func startBaresip(t *testing.T, o baresipOpts) *baresipUA {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "tone.wav")
	if o.ToneHz == 0 {
		o.ToneHz = 1000
	}
	if err := writeToneWAV(wav, o.ToneHz, 60); err != nil {
		t.Fatal(err)
	}
	cfg := baresipConfig(o, dir, wav)
	for name, body := range map[string]string{"config": cfg, "accounts": o.Account + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &baresipUA{t: t, opts: o, dir: dir, done: make(chan struct{}), evCh: make(chan struct{}),
		resps: map[string]chan baresipResp{}}
	b.cmd = exec.Command("baresip", "-f", dir, "-s") // -s: SIP trace in the log
	b.cmd.Stdin = nil                                // /dev/null
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.done)
		b.err = b.cmd.Wait()
	}()
	t.Cleanup(func() {
		b.stop()
		if b.conn != nil {
			b.conn.Close()
		}
		p := filepath.Join(artifacts(t), "baresip-"+o.Name+".log")
		log := fmt.Sprintf("# config\n%s\n# accounts\n%s\n# events\n%s\n# output\n%s", cfg, o.Account, b.eventLog(), b.out.String())
		_ = os.WriteFile(p, []byte(log), 0o644)
		if t.Failed() {
			t.Logf("baresip %s log: %s\n%s", o.Name, p, tail(b.out.String(), 3000))
		}
	})
	// Wait for the ctrl_tcp listener (baresip prints "baresip is ready." just before).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", o.CtrlPort))
		if err == nil {
			b.conn = c
			break
		}
		select {
		case <-b.done:
			t.Fatalf("baresip %s exited at start: %v\n%s", o.Name, b.err, b.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: ctrl_tcp not listening: %v\n%s", o.Name, err, b.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	go b.readLoop()
	return b
}

// readLoop parses netstrings ("len:json,") from ctrl_tcp.
func (b *baresipUA) readLoop() {
	r := bufio.NewReader(b.conn)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			b.mu.Unlock()
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			b.mu.Lock()
			b.readErr = fmt.Errorf("bad netstring length %q", lenStr)
			b.mu.Unlock()
			return
		}
		buf := make([]byte, n+1)
		if _, err := ioReadFull(r, buf); err != nil {
			b.mu.Lock()
			b.readErr = err
			b.mu.Unlock()
			return
		}
		msg := buf[:n]
		var head struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		_ = json.Unmarshal(msg, &head)
		b.mu.Lock()
		switch {
		case head.Response:
			var resp baresipResp
			_ = json.Unmarshal(msg, &resp)
			if ch := b.resps[resp.Token]; ch != nil {
				ch <- resp
				delete(b.resps, resp.Token)
			}
		case head.Event:
			var ev baresipEvent
			_ = json.Unmarshal(msg, &ev)
			b.events = append(b.events, ev)
			close(b.evCh)
			b.evCh = make(chan struct{})
		}
		b.mu.Unlock()
	}
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// command sends one ctrl_tcp command and returns the response's data.
func (b *baresipUA) command(cmd, params string) (string, error) {
	b.mu.Lock()
	b.tokenN++
	tok := fmt.Sprintf("t%d", b.tokenN)
	ch := make(chan baresipResp, 1)
	b.resps[tok] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": tok})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		return "", err
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r.Data, fmt.Errorf("baresip %s %q: not ok: %s", b.opts.Name, cmd+" "+params, r.Data)
		}
		return r.Data, nil
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("baresip %s: no response to %q", b.opts.Name, cmd)
	}
}

// waitEvent waits for an event of type typ (and, if param != "", that param).
func (b *baresipUA) waitEvent(typ, param string, within time.Duration) (baresipEvent, error) {
	deadline := time.After(within)
	for {
		b.mu.Lock()
		for _, e := range b.events {
			if e.Type == typ && (param == "" || e.Param == param) {
				b.mu.Unlock()
				return e, nil
			}
		}
		ch := b.evCh
		b.mu.Unlock()
		select {
		case <-ch:
		case <-b.done:
			return baresipEvent{}, fmt.Errorf("baresip %s exited before event %s: %v", b.opts.Name, typ, b.err)
		case <-deadline:
			return baresipEvent{}, fmt.Errorf("baresip %s: no %s %s event within %s; events: %s", b.opts.Name, typ, param, within, b.eventTypes())
		}
	}
}

func (b *baresipUA) eventTypes() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s []string
	for _, e := range b.events {
		s = append(s, e.Type+"("+e.Param+")")
	}
	return strings.Join(s, " ")
}

func (b *baresipUA) eventLog() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, e := range b.events {
		j, _ := json.Marshal(e)
		s.Write(j)
		s.WriteByte('\n')
	}
	return s.String()
}

// stop ends baresip with SIGTERM (it then prints its remaining output and
// exits cleanly), falling back to SIGKILL.
func (b *baresipUA) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// rtpDirStats is one "Transmit/Receive" column of baresip's rtp_stats block.
type rtpDirStats struct{ Packets, Errors, Lost int }

// baresipRTPStats is what baresip prints for one stream when a call ends:
//
//	video           Transmit:     Receive:
//	packets:            175          176
//	...
//	lost:                 0            0
type baresipRTPStats struct {
	Found  bool
	TX, RX rtpDirStats
}

var statsRow = regexp.MustCompile(`^(packets|errors|lost):\s+(-?\d+)\s+(-?\d+)`)

// rtpStats parses the last rtp_stats block for kind ("audio" or "video").
func (b *baresipUA) rtpStats(kind string) baresipRTPStats {
	var st baresipRTPStats
	lines := strings.Split(b.out.String(), "\n")
	start := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == kind && f[1] == "Transmit:" && f[2] == "Receive:" {
			start = i
		}
	}
	if start < 0 {
		return st
	}
	st.Found = true
	for _, l := range lines[start+1 : min(start+10, len(lines))] {
		if strings.Contains(l, "Transmit:") || strings.TrimSpace(l) == "" {
			break // the next stream's block
		}
		m := statsRow.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		tx, _ := strconv.Atoi(m[2])
		rx, _ := strconv.Atoi(m[3])
		switch m[1] {
		case "packets":
			st.TX.Packets, st.RX.Packets = tx, rx
		case "errors":
			st.TX.Errors, st.RX.Errors = tx, rx
		case "lost":
			st.TX.Lost, st.RX.Lost = tx, rx
		}
	}
	return st
}

var decodedRes = regexp.MustCompile(`video: receiving with resolution (\d+) x (\d+)`)

// decodedVideo reports the resolution of the first picture baresip's video
// decoder produced ("video: receiving with resolution W x H" is printed by
// video.c when a decoded frame reaches the display), or 0, 0.
func (b *baresipUA) decodedVideo() (w, h int) {
	m := decodedRes.FindStringSubmatch(b.out.String())
	if m == nil {
		return 0, 0
	}
	w, _ = strconv.Atoi(m[1])
	h, _ = strconv.Atoi(m[2])
	return w, h
}

// waitExit waits for baresip to exit (after stop or on its own).
func (b *baresipUA) waitExit(within time.Duration) error {
	select {
	case <-b.done:
		return nil
	case <-time.After(within):
		return errors.New("baresip did not exit")
	}
}

// negotiatedVideo extracts the video format line of a callstat dump, e.g.
// "96 H264/90000/1 (packetization-mode=1;...) *" from "remote formats".
func negotiatedVideo(callstat string) string {
	i := strings.Index(callstat, "\nvideo ")
	if i < 0 {
		return ""
	}
	s := callstat[i:]
	j := strings.Index(s, "remote formats:")
	if j < 0 {
		return ""
	}
	rest := strings.SplitN(s[j:], "\n", 3)
	if len(rest) < 2 {
		return ""
	}
	return strings.TrimSpace(rest[1])
}
