package metasip

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	psdp "github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"

	"github.com/split-hub/split/internal/media"
)

const suite = "AES_CM_128_HMAC_SHA1_80"

// remote is what the fake needs of the hub's SDP.
type remote struct {
	addr   netip.AddrPort
	opusPT uint8
	tePT   uint8 // 0: none offered
	tag    int
	key    []byte // 30 bytes: master key + salt
}

// parseOffer reads the hub's SDP as Meta's SDES mode wants it: one audio
// m-line, RTP/SAVP, an AES_CM_128_HMAC_SHA1_80 a=crypto, Opus/48000.
func parseOffer(body []byte) (*remote, error) {
	var s psdp.SessionDescription
	if err := s.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("SDP: %w", err)
	}
	var audio *psdp.MediaDescription
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			if audio != nil {
				return nil, errors.New("more than one audio m-line")
			}
			audio = md
		} else if md.MediaName.Port.Value != 0 {
			return nil, errors.New("only audio is supported")
		}
	}
	if audio == nil {
		return nil, errors.New("no audio m-line")
	}
	if proto := strings.Join(audio.MediaName.Protos, "/"); proto != "RTP/SAVP" {
		return nil, fmt.Errorf("m-line transport %s, want RTP/SAVP (SDES)", proto)
	}
	r := &remote{}
	conn := s.ConnectionInformation
	if audio.ConnectionInformation != nil {
		conn = audio.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return nil, errors.New("no c= line")
	}
	ip, err := netip.ParseAddr(conn.Address.Address)
	if err != nil {
		return nil, fmt.Errorf("c= address: %w", err)
	}
	r.addr = netip.AddrPortFrom(ip, uint16(audio.MediaName.Port.Value))
	for _, a := range audio.Attributes {
		switch a.Key {
		case "rtpmap":
			pt, enc, _ := strings.Cut(a.Value, " ")
			n, err := strconv.Atoi(pt)
			if err != nil {
				continue
			}
			switch strings.ToLower(enc) {
			case "opus/48000/2", "opus/48000":
				if r.opusPT == 0 {
					r.opusPT = uint8(n)
				}
			case "telephone-event/8000":
				r.tePT = uint8(n)
			}
		case "crypto":
			f := strings.Fields(a.Value)
			if len(f) >= 3 && f[1] == suite && strings.HasPrefix(f[2], "inline:") && r.key == nil {
				k := strings.TrimPrefix(f[2], "inline:")
				k, _, _ = strings.Cut(k, "|")
				key, err := base64.StdEncoding.DecodeString(k)
				if err != nil || len(key) != 30 {
					return nil, errors.New("bad a=crypto key")
				}
				r.tag, _ = strconv.Atoi(f[0])
				r.key = key
			}
		}
	}
	if r.opusPT == 0 {
		return nil, errors.New("no opus/48000/2")
	}
	if r.key == nil {
		return nil, errors.New("no " + suite + " a=crypto")
	}
	return r, nil
}

// Media is the fake's SRTP audio: it sends (after the business's first
// packet, like Meta) an Opus tone and decodes what it hears.
type Media struct {
	log    *slog.Logger
	conn   *net.UDPConn
	opusPT uint8
	tePT   uint8
	tag    int
	key    []byte // ours
	ssrc   uint32

	in, out *srtp.Context
	to      netip.AddrPort
	tone    atomic.Uint64 // float64 bits; 0 Hz: silence
	dtmfQ   chan rune

	mu        sync.Mutex
	pcm       []int16
	digits    []rune
	firstIn   chan struct{}
	firstOnce sync.Once

	// Received counts audio packets from the hub, Sent the fake's packets.
	Received atomic.Uint64
	Sent     atomic.Uint64

	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
}

func newMedia(log *slog.Logger, opusPT, tePT uint8, tag int) (*Media, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	key := make([]byte, 30)
	_, _ = rand.Read(key)
	if tag == 0 {
		tag = 1
	}
	m := &Media{log: log, conn: conn, opusPT: opusPT, tePT: tePT, tag: tag, key: key, ssrc: mrand.Uint32(),
		dtmfQ: make(chan rune, 32), firstIn: make(chan struct{}), done: make(chan struct{})}
	m.tone.Store(math.Float64bits(440))
	return m, nil
}

// sdp is the fake's SDP (offer or answer), shaped like Meta's SDES samples.
func (m *Media) sdp() []byte {
	port := m.conn.LocalAddr().(*net.UDPAddr).Port
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", time.Now().UnixMilli())
	fmt.Fprintf(&b, "m=audio %d RTP/SAVP %d", port, m.opusPT)
	if m.tePT != 0 {
		fmt.Fprintf(&b, " %d", m.tePT)
	}
	b.WriteString("\r\nc=IN IP4 127.0.0.1\r\n")
	fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\n", m.opusPT)
	fmt.Fprintf(&b, "a=fmtp:%d maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1\r\n", m.opusPT)
	if m.tePT != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\n", m.tePT)
	}
	b.WriteString("a=maxptime:20\r\na=ptime:20\r\na=sendrecv\r\n")
	fmt.Fprintf(&b, "a=crypto:%d %s inline:%s\r\n", m.tag, suite, base64.StdEncoding.EncodeToString(m.key))
	fmt.Fprintf(&b, "a=ssrc:%d cname:WhatsAppAudioStream1\r\n", m.ssrc)
	return []byte(b.String())
}

// start keys SRTP both ways and starts sending and receiving.
func (m *Media) start(r *remote) error {
	var err error
	if m.in, err = srtp.CreateContext(r.key[:16], r.key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80); err != nil {
		return err
	}
	if m.out, err = srtp.CreateContext(m.key[:16], m.key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80); err != nil {
		return err
	}
	m.to = r.addr
	if r.opusPT != 0 {
		m.opusPT = r.opusPT
	}
	if r.tePT != 0 {
		m.tePT = r.tePT
	}
	m.wg.Add(2)
	go m.read()
	go m.send()
	return nil
}

func (m *Media) close() {
	m.closeOnce.Do(func() {
		close(m.done)
		_ = m.conn.Close()
		m.wg.Wait()
	})
}

// SetTone changes the tone played (0: silence).
func (m *Media) SetTone(hz float64) { m.tone.Store(math.Float64bits(hz)) }

// SendDTMF queues digits, sent as RFC 4733 events between the audio.
func (m *Media) SendDTMF(digits string) {
	for _, d := range digits {
		m.dtmfQ <- d
	}
}

// FirstIn is closed when the hub's first packet arrived.
func (m *Media) FirstIn() <-chan struct{} { return m.firstIn }

// PCM is a copy of the audio received so far (48 kHz mono).
func (m *Media) PCM() []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int16(nil), m.pcm...)
}

// ResetPCM forgets the audio received so far.
func (m *Media) ResetPCM() {
	m.mu.Lock()
	m.pcm = m.pcm[:0]
	m.mu.Unlock()
}

// Digits are the DTMF digits received, in order.
func (m *Media) Digits() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(m.digits)
}

const maxPCM = 48000 * 20

func (m *Media) read() {
	defer m.wg.Done()
	dec, err := media.NewOpusDecoder(48000)
	if err != nil {
		m.log.Error("opus decoder", "err", err)
		return
	}
	var det media.DTMFDetector
	buf := make([]byte, 1600)
	out := make([]byte, 1600)
	pcm := make([]int16, media.OpusMaxFrameSamples(48000))
	for {
		n, err := m.conn.Read(buf)
		if err != nil {
			return
		}
		pkt, err := m.in.DecryptRTP(out[:0], buf[:n], nil)
		if err != nil || len(pkt) < 12 {
			continue // not SRTP with the hub's key
		}
		m.firstOnce.Do(func() { close(m.firstIn) })
		hl, _, err := media.RTPHeaderLen(pkt)
		if err != nil {
			continue
		}
		pt := pkt[1] & 0x7f
		switch {
		case pt == m.opusPT:
			m.Received.Add(1)
			k, err := dec.Decode(pkt[hl:], pcm)
			if err != nil {
				continue
			}
			m.mu.Lock()
			if len(m.pcm)+k <= maxPCM {
				m.pcm = append(m.pcm, pcm[:k]...)
			}
			m.mu.Unlock()
		case pt == m.tePT && m.tePT != 0:
			if d, ok := det.Push(binary.BigEndian.Uint32(pkt[4:]), pkt[hl:]); ok {
				m.mu.Lock()
				m.digits = append(m.digits, d)
				m.mu.Unlock()
			}
		}
	}
}

// send waits for the hub's first packet (Meta waits for the business to
// send first), then sends a 20 ms Opus frame of the tone, or DTMF events,
// every 20 ms.
func (m *Media) send() {
	defer m.wg.Done()
	select {
	case <-m.firstIn:
	case <-m.done:
		return
	}
	enc, err := media.NewOpusEncoder(48000, 32000)
	if err != nil {
		m.log.Error("opus encoder", "err", err)
		return
	}
	to := net.UDPAddrFromAddrPort(m.to)
	pcm := make([]int16, 960)
	frame := make([]byte, media.OpusMaxPacketSize)
	pkt := make([]byte, 0, 1600)
	enc1 := make([]byte, 0, 1700)
	seq, ts := uint16(mrand.Uint32()), mrand.Uint32()
	var phase float64
	var events []media.DTMFPacket
	var eventTS uint32
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tk.C:
		}
		ts += 960
		pkt = pkt[:12]
		pkt[0] = 0x80
		if len(events) == 0 {
			select {
			case d := <-m.dtmfQ:
				if m.tePT != 0 {
					events, _ = media.DTMFPackets(d, 160, 8000, 20)
					eventTS = ts
				}
			default:
			}
		}
		if len(events) > 0 {
			e := events[0]
			events = events[1:]
			pkt[1] = m.tePT
			if e.Marker {
				pkt[1] |= 0x80
			}
			binary.BigEndian.PutUint32(pkt[4:], eventTS)
			pkt = append(pkt, e.Payload[:]...)
		} else {
			media.GenerateTone(pcm, math.Float64frombits(m.tone.Load()), 48000, &phase, 0.25)
			n, err := enc.Encode(pcm, frame)
			if err != nil {
				continue
			}
			pkt[1] = m.opusPT
			binary.BigEndian.PutUint32(pkt[4:], ts)
			pkt = append(pkt, frame[:n]...)
		}
		seq++
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[8:], m.ssrc)
		b, err := m.out.EncryptRTP(enc1[:0], pkt, nil)
		if err != nil {
			continue
		}
		if _, err := m.conn.WriteToUDP(b, to); err == nil {
			m.Sent.Add(1)
		}
	}
}
