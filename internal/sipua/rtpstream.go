package sipua

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/rtpport"
	"github.com/split-hub/split/internal/sdp"
)

// Stats are one RTP stream's counters, safe to read at any time.
type Stats struct {
	PacketsSent     atomic.Uint64
	OctetsSent      atomic.Uint64
	PacketsReceived atomic.Uint64
	OctetsReceived  atomic.Uint64
	Lost            atomic.Int64
	JitterMicros    atomic.Uint64 // RFC 3550 interarrival jitter
	LastReceived    atomic.Int64  // unix nanoseconds
	RTCPReceived    atomic.Uint64 // compound RTCP packets from the far end
	RemoteLost      atomic.Int64  // cumulative loss the far end reports for our stream (RR)
	RemoteJitter    atomic.Uint32 // interarrival jitter the far end reports, in its clock units
}

// StatsSnapshot is a copy of Stats for JSON.
type StatsSnapshot struct {
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	Lost            int64   `json:"lost"`
	JitterMs        float64 `json:"jitter_ms"`
	RTCPReceived    uint64  `json:"rtcp_received"`
	RemoteLost      int64   `json:"remote_lost"` // loss of our stream as the far end reports it (RTCP RR)
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		PacketsSent: s.PacketsSent.Load(), PacketsReceived: s.PacketsReceived.Load(),
		Lost: s.Lost.Load(), JitterMs: float64(s.JitterMicros.Load()) / 1000,
		RTCPReceived: s.RTCPReceived.Load(), RemoteLost: s.RemoteLost.Load(),
	}
}

// rtpStream is one SIP-side m-line: an RTP/RTCP socket pair, symmetric
// latching, optional SDES-SRTP, RTCP SR/RR, and the leg.Track it feeds.
type rtpStream struct {
	log   *slog.Logger
	pair  *rtpport.Pair
	track *leg.Track
	stats Stats

	ssrc   uint32
	remote atomic.Pointer[netip.AddrPort]
	rtcpTo atomic.Pointer[netip.AddrPort]
	latch  atomic.Bool // true once latched to the first packet's source
	send   atomic.Bool // false while the far end does not want media (hold)

	wmu         sync.Mutex // one writer at a time: seq, ts and srtp state
	seq         uint16
	tsOffset    uint32
	lastTS      uint32    // timestamp of the last media packet sent (after tsOffset)
	lastSent    time.Time // when it was sent
	wbuf        []byte
	srtpOut     *srtp.Context
	srtcpOut    *srtp.Context
	srtpIn      atomic.Pointer[srtp.Context]
	localCrypto *sdp.Crypto            // our SDES key when the m-line is RTP/SAVP
	proto       atomic.Pointer[string] // the far end's m-line transport, echoed in our SDP

	remoteSSRC atomic.Uint32
	onDTMF     func(rune) // set before start; called on the reader goroutine
	dtmf       media.DTMFDetector
	// jitter/loss state, owned by the reader goroutine
	maxSeq    uint16
	seqInit   bool
	received  uint64
	baseSeq   uint32
	cycles    uint32
	transit   int64
	jitter    float64
	clockRate atomic.Uint32
	epoch     time.Time

	wg   sync.WaitGroup
	done chan struct{}
	once sync.Once
}

func newRTPStream(log *slog.Logger, pair *rtpport.Pair, kind string, clock uint32) *rtpStream {
	s := &rtpStream{
		log: log, pair: pair, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()),
		tsOffset: rand.Uint32(), wbuf: make([]byte, 1600), done: make(chan struct{}), epoch: time.Now(),
	}
	s.clockRate.Store(clock)
	s.send.Store(true)
	s.track = leg.NewTrack(kind, leg.Codec{}, leg.Codec{}, leg.WriterFunc(s.writeMedia))
	s.track.InDTMF = leg.WriterFunc(s.writeDTMF)
	if kind == "video" {
		s.track.SetKeyframeRequester(s.sendPLI)
	}
	return s
}

// setRemote points the stream at addr (from SDP); a latched source wins until the SDP changes.
func (s *rtpStream) setRemote(addr netip.AddrPort, rtcpPort int) {
	old := s.remote.Load()
	if old == nil || *old != addr {
		s.latch.Store(false)
	}
	s.remote.Store(&addr)
	r := netip.AddrPortFrom(addr.Addr(), uint16(rtcpPort))
	s.rtcpTo.Store(&r)
}

func (s *rtpStream) start() {
	s.wg.Add(2)
	go s.readRTP()
	go s.readRTCP()
}

func (s *rtpStream) close() {
	s.once.Do(func() {
		close(s.done)
		s.pair.Close()
		s.wg.Wait()
	})
}

func (s *rtpStream) readRTP() {
	defer s.wg.Done()
	buf := make([]byte, 1600)
	dec := make([]byte, 1600)
	for {
		n, from, err := s.pair.RTP.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		pkt := buf[:n]
		if in := s.srtpIn.Load(); in != nil {
			out, err := in.DecryptRTP(dec[:0], pkt, nil)
			if err != nil {
				continue
			}
			pkt = out
		}
		// Symmetric RTP (RFC 4961 practice): send back to where media comes from.
		if !s.latch.Load() {
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if cur := s.remote.Load(); cur == nil || *cur != from {
				s.remote.Store(&from)
				r := netip.AddrPortFrom(from.Addr(), from.Port()+1)
				s.rtcpTo.Store(&r)
			}
			s.latch.Store(true)
		}
		s.account(pkt)
		if s.onDTMF != nil {
			s.checkDTMF(pkt)
		}
		_ = s.track.Deliver(pkt)
	}
}

func (s *rtpStream) account(pkt []byte) {
	now := time.Now()
	s.stats.PacketsReceived.Add(1)
	s.stats.OctetsReceived.Add(uint64(len(pkt)))
	s.stats.LastReceived.Store(now.UnixNano())
	seq := binary.BigEndian.Uint16(pkt[2:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	s.remoteSSRC.Store(binary.BigEndian.Uint32(pkt[8:]))
	if !s.seqInit {
		s.seqInit, s.maxSeq, s.baseSeq = true, seq, uint32(seq)
	} else if d := seq - s.maxSeq; d > 0 && d < 0x8000 {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
	s.received++
	expected := int64(s.cycles+uint32(s.maxSeq)) - int64(s.baseSeq) + 1
	s.stats.Lost.Store(expected - int64(s.received))
	if clock := int64(s.clockRate.Load()); clock > 0 {
		arrival := int64(now.Sub(s.epoch)) * clock / 1e9
		transit := arrival - int64(ts)
		if s.transit != 0 {
			d := transit - s.transit
			if d < 0 {
				d = -d
			}
			s.jitter += (float64(d) - s.jitter) / 16
			s.stats.JitterMicros.Store(uint64(s.jitter * 1e6 / float64(clock)))
		}
		s.transit = transit
	}
}

// writeMedia sends pkt with our SSRC, the negotiated payload type and a
// continuous sequence number; timestamps keep the source's spacing.
func (s *rtpStream) writeMedia(pkt []byte) error {
	return s.write(pkt, s.track.Send().PT, true)
}

func (s *rtpStream) writeDTMF(pkt []byte) error {
	pt := s.track.SendDTMF().PT
	if pt == 0 {
		return nil
	}
	return s.write(pkt, pt, false)
}

// eventTS is the timestamp, in the units write() takes (before tsOffset),
// that puts an RFC 4733 event the hub generates at "now" on this stream's
// timeline: the last media packet's timestamp plus the time since it went
// out (RFC 4733 §2.5.1.2: events share the audio stream's SSRC and clock).
func (s *rtpStream) eventTS() uint32 {
	clock := float64(s.clockRate.Load())
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.lastSent.IsZero() {
		return uint32(time.Since(s.epoch).Seconds() * clock)
	}
	return s.lastTS - s.tsOffset + uint32(time.Since(s.lastSent).Seconds()*clock)
}

func (s *rtpStream) write(pkt []byte, pt uint8, isMedia bool) error {
	if len(pkt) < 12 || !s.send.Load() {
		return nil
	}
	to := s.remote.Load()
	if to == nil || !to.Addr().IsValid() || to.Port() == 0 {
		return nil
	}
	hl, _, err := media.RTPHeaderLen(pkt)
	if err != nil {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Plain RTP toward phones: no CSRCs, no header extensions from the browser.
	b := append(append(s.wbuf[:0], pkt[:12]...), pkt[hl:]...)
	b[0] = 0x80
	b[1] = pkt[1]&0x80 | pt&0x7f
	s.seq++
	binary.BigEndian.PutUint16(b[2:], s.seq)
	ts := binary.BigEndian.Uint32(b[4:]) + s.tsOffset
	binary.BigEndian.PutUint32(b[4:], ts)
	if isMedia {
		s.lastTS, s.lastSent = ts, time.Now()
	}
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	if s.srtpOut != nil {
		enc, err := s.srtpOut.EncryptRTP(s.wbuf[len(b):len(b)], b, nil)
		if err != nil {
			return err
		}
		b = enc
	}
	if _, err := s.pair.RTP.WriteToUDPAddrPort(b, *to); err != nil {
		return err
	}
	s.stats.PacketsSent.Add(1)
	s.stats.OctetsSent.Add(uint64(len(pkt) - 12))
	return nil
}

// rtcpInterval is how often the stream sends its RTCP report.
const rtcpInterval = 5 * time.Second

// readRTCP reads the peer's RTCP and sends ours every rtcpInterval: the
// read deadline is the report timer, so a call costs one goroutine for
// RTCP, not a reader and a ticker loop.
func (s *rtpStream) readRTCP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	dec := make([]byte, 1500)
	next := time.Now().Add(rtcpInterval)
	for {
		_ = s.pair.RTCP.SetReadDeadline(next)
		n, _, err := s.pair.RTCP.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.sendReport()
				next = time.Now().Add(rtcpInterval)
			}
			continue
		}
		if now := time.Now(); !now.Before(next) {
			s.sendReport()
			next = now.Add(rtcpInterval)
		}
		b := buf[:n]
		if in := s.srtpIn.Load(); in != nil {
			out, err := in.DecryptRTCP(dec[:0], b, nil)
			if err != nil {
				continue
			}
			b = out
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			continue
		}
		s.stats.RTCPReceived.Add(1)
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.track.KeyframeRequested()
			case *rtcp.SenderReport:
				s.remoteReport(p.Reports)
			case *rtcp.ReceiverReport:
				s.remoteReport(p.Reports)
			}
		}
	}
}

func (s *rtpStream) sendReport() {
	var pkts []rtcp.Packet
	rr := rtcp.ReceptionReport{SSRC: s.remoteSSRC.Load(), Jitter: uint32(s.stats.JitterMicros.Load() * uint64(s.clockRate.Load()) / 1e6)}
	if lost := s.stats.Lost.Load(); lost > 0 {
		rr.TotalLost = uint32(lost) & 0xffffff
	}
	var reports []rtcp.ReceptionReport
	if s.stats.PacketsReceived.Load() > 0 {
		reports = append(reports, rr)
	}
	if sent := s.stats.PacketsSent.Load(); sent > 0 {
		s.wmu.Lock()
		ts := s.lastTS
		s.wmu.Unlock()
		now := time.Now()
		pkts = append(pkts, &rtcp.SenderReport{
			SSRC: s.ssrc, NTPTime: media.NTPTime(now), RTPTime: ts,
			PacketCount: uint32(sent), OctetCount: uint32(s.stats.OctetsSent.Load()), Reports: reports,
		})
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: reports})
	}
	pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: s.ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "split"}},
	}}})
	s.writeRTCP(pkts)
}

func (s *rtpStream) sendPLI() {
	s.writeRTCP([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: s.ssrc},
		&rtcp.PictureLossIndication{SenderSSRC: s.ssrc, MediaSSRC: s.remoteSSRC.Load()},
	})
}

func (s *rtpStream) writeRTCP(pkts []rtcp.Packet) {
	to := s.rtcpTo.Load()
	if to == nil || to.Port() == 0 {
		return
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if s.srtcpOut != nil {
		s.wmu.Lock()
		b, err = s.srtcpOut.EncryptRTCP(nil, b, nil)
		s.wmu.Unlock()
		if err != nil {
			return
		}
	}
	_, _ = s.pair.RTCP.WriteToUDPAddrPort(b, *to)
}

// checkDTMF reports each RFC 4733 event once (retransmitted and end
// packets of one event share its timestamp).
func (s *rtpStream) checkDTMF(pkt []byte) {
	if !s.track.IsRecvDTMF(pkt[1] & 0x7f) {
		return
	}
	payload, err := media.RTPPayload(pkt)
	if err != nil {
		return
	}
	if d, ok := s.dtmf.Push(binary.BigEndian.Uint32(pkt[4:]), payload); ok {
		s.onDTMF(d)
	}
}

// setProto remembers the far end's m-line transport so that our answers and
// re-offers echo it (RFC 3264 §6): RTP/AVP phones never see AVPF.
func (s *rtpStream) setProto(p string) {
	switch p {
	case "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF":
		s.proto.Store(&p)
	}
}

// remoteProto is the transport to write ("" = the default for our crypto).
func (s *rtpStream) remoteProto() string {
	if p := s.proto.Load(); p != nil {
		return *p
	}
	return ""
}

// remoteReport keeps what the far end says about the stream we send it.
func (s *rtpStream) remoteReport(rs []rtcp.ReceptionReport) {
	for _, r := range rs {
		if r.SSRC == s.ssrc {
			s.stats.RemoteLost.Store(int64(r.TotalLost))
			s.stats.RemoteJitter.Store(r.Jitter)
		}
	}
}
