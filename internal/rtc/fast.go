package rtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/split-hub/split/internal/media"
)

// The media fast path (docs/benchmarks.md § Fast path).
//
// An audio-only browser leg on the shared ICE UDP port spends most of its
// CPU in pion's per-packet plumbing, not in its work: each browser packet
// crossed five goroutines and four copies (the UDP mux's reader, the ICE
// candidate's reader, the DTLS/SRTP demultiplexer, the SRTP session, the
// track reader) before the bridge saw it, and each hub packet went through
// the track, the interceptors, the SRTP session and the mux's writer.
//
// Once such a leg's DTLS handshake is done and its audio has started, the
// hub takes the leg's SRTP keys (the DTLS exporter, RFC 5764 §4.2) and:
//   - browser → hub: the shared socket's reader (pion's UDP mux reader,
//     through fastConn) recognises the leg's audio by 5-tuple and SSRC,
//     decrypts it in place and hands it to the leg's track on that
//     goroutine; STUN, DTLS, RTCP and anything else goes on to pion;
//   - hub → browser: writeAudio encrypts with the leg's own context and
//     writes to the shared socket, toward the selected candidate pair's
//     remote address.
//
// RTCP stays on pion's path (SRTCP), and the audio legs' sender and
// receiver reports come from the hub's own counters, sent by one ticker for
// all of them (Engine.reports), not by two interceptor loops per leg. Legs
// with video, and ICE over TCP or through the hub's own TURN allocation,
// keep pion's path.

// fastConn is the shared ICE UDP socket as pion's UDP mux sees it.
type fastConn struct {
	*net.UDPConn
	mu     sync.RWMutex
	routes map[netip.AddrPort]*fastRoute
	port   int

	in, out, dropped atomic.Uint64 // packets, all legs
}

func newFastConn(c *net.UDPConn) *fastConn {
	return &fastConn{UDPConn: c, routes: map[netip.AddrPort]*fastRoute{}, port: c.LocalAddr().(*net.UDPAddr).Port}
}

// isRTP: RTP version 2 and not an RTCP packet type (RFC 5761 §4).
func isRTP(b []byte) bool {
	return len(b) >= 12 && b[0]&0xc0 == 0x80 && (b[1] < 192 || b[1] > 223)
}

// ReadFromAddrPort is what pion's UDP mux reads with (ice.AddrPortReaderWriter):
// packets of a fast leg are handled here and never returned.
func (f *fastConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, src, err := f.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || !isRTP(b[:n]) {
			return n, src, err
		}
		f.mu.RLock()
		r := f.routes[netip.AddrPortFrom(src.Addr().Unmap(), src.Port())]
		f.mu.RUnlock()
		if r == nil || binary.BigEndian.Uint32(b[8:12]) != r.ssrc {
			return n, src, err
		}
		r.handle(b[:n])
	}
}

// ReadFrom serves callers without the AddrPort interface.
func (f *fastConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := f.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// WriteToAddrPort completes ice.AddrPortReaderWriter.
func (f *fastConn) WriteToAddrPort(b []byte, a netip.AddrPort) (int, error) {
	return f.UDPConn.WriteToUDPAddrPort(b, a)
}

func (f *fastConn) set(from netip.AddrPort, r *fastRoute) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r == nil {
		delete(f.routes, from)
		return
	}
	f.routes[from] = r
}

// fastRoute is one leg's incoming audio on the fast path. Only the mux's
// reader goroutine uses dec, hdr and buf.
type fastRoute struct {
	conn *fastConn
	ssrc uint32
	dec  *srtp.Context
	hdr  rtp.Header
	buf  [1500]byte
	leg  *Leg
}

func (r *fastRoute) handle(pkt []byte) {
	p, err := r.dec.DecryptRTP(r.buf[:0], pkt, &r.hdr)
	if err != nil {
		// forged, replayed or damaged: what pion's SRTP would have dropped
		r.leg.fastDropped.Add(1)
		r.conn.dropped.Add(1)
		return
	}
	r.leg.fastIn.Add(1)
	r.conn.in.Add(1)
	r.leg.audioPacket(p)
}

// fastOut is one leg's outgoing audio on the fast path (l.amu held).
type fastOut struct {
	enc *srtp.Context
	hdr rtp.Header
	buf [1500]byte
}

// fastState is what a leg keeps of its fast path.
type fastState struct {
	conn  *fastConn
	route *fastRoute
	out   *fastOut
	from  netip.AddrPort                 // the route's key
	to    atomic.Pointer[netip.AddrPort] // where outgoing audio goes (nil: pion's path)
}

// dtlsConnOf is the DTLS connection pion keeps unexported in the transport.
// pion has no API for the SRTP keys (a leg's srtp.Config stays inside); the
// field is read once per leg, after the handshake, and TestFastPathKeys
// fails the build's tests if a pion upgrade renames or retypes it.
func dtlsConnOf(t *webrtc.DTLSTransport) (*dtls.Conn, error) {
	if t == nil {
		return nil, errors.New("rtc: no DTLS transport")
	}
	f := reflect.ValueOf(t).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*dtls.Conn)(nil)) {
		return nil, errors.New("rtc: pion's DTLSTransport has no conn *dtls.Conn field")
	}
	c := *(**dtls.Conn)(unsafe.Pointer(f.UnsafeAddr()))
	if c == nil {
		return nil, errors.New("rtc: DTLS not connected")
	}
	return c, nil
}

// srtpContexts derives the leg's SRTP contexts (in: what the browser
// sends, out: what the hub sends) from the DTLS exporter.
func srtpContexts(t *webrtc.DTLSTransport, isClient bool) (in, out *srtp.Context, err error) {
	c, err := dtlsConnOf(t)
	if err != nil {
		return nil, nil, err
	}
	dp, ok := c.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, nil, errors.New("rtc: no SRTP profile negotiated")
	}
	var p srtp.ProtectionProfile
	switch dp {
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		p = srtp.ProtectionProfileAes128CmHmacSha1_80
	case dtls.SRTP_AES128_CM_HMAC_SHA1_32:
		p = srtp.ProtectionProfileAes128CmHmacSha1_32
	case dtls.SRTP_AEAD_AES_128_GCM:
		p = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		p = srtp.ProtectionProfileAeadAes256Gcm
	default:
		return nil, nil, fmt.Errorf("rtc: SRTP profile %#x not on the fast path", dp)
	}
	st, ok := c.ConnectionState()
	if !ok {
		return nil, nil, errors.New("rtc: DTLS state not available")
	}
	cfg := srtp.Config{Profile: p}
	if err := cfg.ExtractSessionKeysFromDTLS(&st, isClient); err != nil {
		return nil, nil, err
	}
	// RFC 9335 cryptex, as pion settled it per direction
	inOpts, outOpts := []srtp.ContextOption{srtp.SRTPReplayProtection(64)}, []srtp.ContextOption{}
	if m, ok := cryptexMode(t, "remoteCryptexMode"); !ok {
		return nil, nil, errors.New("rtc: pion's DTLSTransport has no remoteCryptexMode")
	} else if m == srtp.CryptexModeEnabled || m == srtp.CryptexModeRequired {
		inOpts = append(inOpts, srtp.Cryptex(m))
	}
	if m, ok := cryptexMode(t, "localCryptexMode"); !ok {
		return nil, nil, errors.New("rtc: pion's DTLSTransport has no localCryptexMode")
	} else if m == srtp.CryptexModeEnabled || m == srtp.CryptexModeRequired {
		outOpts = append(outOpts, srtp.Cryptex(m))
	}
	k := cfg.Keys
	if in, err = srtp.CreateContext(k.RemoteMasterKey, k.RemoteMasterSalt, p, inOpts...); err != nil {
		return nil, nil, err
	}
	if out, err = srtp.CreateContext(k.LocalMasterKey, k.LocalMasterSalt, p, outOpts...); err != nil {
		return nil, nil, err
	}
	return in, out, nil
}

// cryptexMode reads one of the transport's cryptex modes (see dtlsConnOf).
func cryptexMode(t *webrtc.DTLSTransport, field string) (srtp.CryptexMode, bool) {
	f := reflect.ValueOf(t).Elem().FieldByName(field)
	if !f.IsValid() || f.Type() != reflect.TypeOf(srtp.CryptexMode(0)) {
		return 0, false
	}
	return *(*srtp.CryptexMode)(unsafe.Pointer(f.UnsafeAddr())), true
}

// setupRole reads a=setup from an SDP ("" when absent).
func setupRole(s string) string {
	_, v, ok := strings.Cut(s, "a=setup:")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, "\r")
	v, _, _ = strings.Cut(v, "\n")
	return strings.TrimSpace(v)
}

// dtlsClient says whether the hub is the DTLS client of this leg (RFC 5763:
// active is the client; an actpass offer is settled by the answer).
func (l *Leg) dtlsClient() (bool, error) {
	ld, rd := l.pc.CurrentLocalDescription(), l.pc.CurrentRemoteDescription()
	if ld == nil || rd == nil {
		return false, errors.New("rtc: negotiation not finished")
	}
	switch local, remote := setupRole(ld.SDP), setupRole(rd.SDP); {
	case local == "active":
		return true, nil
	case local == "passive":
		return false, nil
	case remote == "active":
		return false, nil
	case remote == "passive":
		return true, nil
	}
	return false, errors.New("rtc: DTLS role not settled by the SDP")
}

// startFast moves an audio-only leg's audio to the fast path; called once
// its audio track has arrived (DTLS and SRTP are up). Any reason not to is
// logged and the leg stays on pion's path.
func (l *Leg) startFast(ssrc uint32) {
	if l.fast == nil || l.fast.conn == nil {
		return
	}
	why := func() error {
		client, err := l.dtlsClient()
		if err != nil {
			return err
		}
		dt := l.pc.SCTP().Transport()
		in, out, err := srtpContexts(dt, client)
		if err != nil {
			return err
		}
		l.fast.route = &fastRoute{conn: l.fast.conn, ssrc: ssrc, dec: in, leg: l}
		l.amu.Lock()
		l.fast.out = &fastOut{enc: out}
		l.amu.Unlock()
		ice := dt.ICETransport()
		ice.OnSelectedCandidatePairChange(l.fastPair)
		pair, err := ice.GetSelectedCandidatePair()
		if err != nil || pair == nil {
			return errors.New("no selected candidate pair")
		}
		l.fastPair(pair)
		return nil
	}()
	if why != nil {
		l.log.Warn("audio stays on pion's path", "why", why.Error())
		return
	}
	l.log.Debug("audio on the fast path", "ssrc", ssrc)
}

// fastPair follows the selected candidate pair (ICE restarts, a network
// change): the route's key and where outgoing audio goes. A pair that is
// not UDP on the shared port (ICE-TCP, the hub's own TURN relay) takes the
// leg back to pion's path.
func (l *Leg) fastPair(p *webrtc.ICECandidatePair) {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	f := l.fast
	if f == nil || f.route == nil {
		return
	}
	if f.from.IsValid() {
		f.conn.set(f.from, nil)
		f.from = netip.AddrPort{}
	}
	f.to.Store(nil)
	if l.closing.Load() || p == nil || p.Local == nil || p.Remote == nil ||
		p.Local.Protocol != webrtc.ICEProtocolUDP || p.Local.Typ == webrtc.ICECandidateTypeRelay ||
		int(p.Local.Port) != f.conn.port {
		return
	}
	a, err := netip.ParseAddr(p.Remote.Address)
	if err != nil {
		return
	}
	to := netip.AddrPortFrom(a.Unmap(), p.Remote.Port)
	f.from = to
	f.conn.set(to, f.route)
	f.to.Store(&to)
	l.fastOn.Store(true)
}

// stopFast takes the leg's routes out of the shared socket (Close).
func (l *Leg) stopFast() {
	l.closing.Store(true)
	l.fmu.Lock()
	defer l.fmu.Unlock()
	if f := l.fast; f != nil && f.from.IsValid() {
		f.conn.set(f.from, nil)
		f.from = netip.AddrPort{}
		f.to.Store(nil)
	}
}

// writeFast sends a rewritten audio packet on the fast path with payload
// type pt (0: the bound codec's) (l.amu held); false: not on it, use
// pion's track.
func (l *Leg) writeFast(b []byte, pt uint8) bool {
	f := l.fast
	if f == nil || f.out == nil {
		return false
	}
	to := f.to.Load()
	if to == nil {
		return false
	}
	_, ssrc, codecPT, _ := l.audioOut.bound()
	if ssrc == 0 {
		return false
	}
	if pt == 0 {
		pt = codecPT
	}
	b[1] = b[1]&0x80 | pt&0x7f
	binary.BigEndian.PutUint32(b[8:], ssrc)
	p, err := f.out.enc.EncryptRTP(f.out.buf[:0], b, &f.out.hdr)
	if err != nil {
		return false
	}
	if _, err := f.conn.WriteToUDPAddrPort(p, *to); err == nil {
		l.fastOut.Add(1)
		f.conn.out.Add(1)
	} // else the socket's error: as with pion, the packet is gone
	return true
}

// FastPathStats are the fast path's figures for /metrics.
type FastPathStats struct {
	Legs             int    // legs whose audio is on it now
	In, Out, Dropped uint64 // packets since start: browser → hub, hub → browser, failed SRTP
}

// FastPath reports the fast path's figures (zero when webrtc.fast_path is off).
func (e *Engine) FastPath() FastPathStats {
	f := e.fast
	if f == nil {
		return FastPathStats{}
	}
	f.mu.RLock()
	n := len(f.routes)
	f.mu.RUnlock()
	return FastPathStats{Legs: n, In: f.in.Load(), Out: f.out.Load(), Dropped: f.dropped.Load()}
}

// reportInterval is how often audio legs send their RTCP reports (pion's
// report interceptors' default).
const reportInterval = time.Second

// reports sends every audio leg's RTCP sender and receiver report from one
// goroutine (Engine's), in place of two interceptor loops per leg.
func (e *Engine) reports() {
	defer e.wg.Done()
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	var legs []*Leg
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.lmu.Lock()
			legs = legs[:0]
			for l := range e.audioLegs {
				legs = append(legs, l)
			}
			e.lmu.Unlock()
			for _, l := range legs {
				if pkts := l.reports(now); len(pkts) > 0 {
					_ = l.pc.WriteRTCP(pkts)
				}
			}
		}
	}
}

func (e *Engine) addAudioLeg(l *Leg) {
	e.lmu.Lock()
	e.audioLegs[l] = struct{}{}
	e.lmu.Unlock()
}

func (e *Engine) removeAudioLeg(l *Leg) {
	e.lmu.Lock()
	delete(e.audioLegs, l)
	e.lmu.Unlock()
}

// reports builds the leg's SR (what the hub sent) and RR (what it
// received, RFC 3550 §6.4) from its own counters. LSR/DLSR are 0: the
// hub does not read the browser's SRs (neither did pion's interceptor
// here, which sees only what the application reads).
func (l *Leg) reports(now time.Time) []rtcp.Packet {
	_, ssrc, _, clock := l.audioOut.bound()
	if ssrc == 0 {
		return nil
	}
	var pkts []rtcp.Packet
	l.amu.Lock()
	sent, octets, lastTS, lastAt := l.sr.packets, l.sr.octets, l.sr.lastTS, l.sr.lastAt
	l.amu.Unlock()
	if sent > 0 && clock > 0 {
		pkts = append(pkts, &rtcp.SenderReport{SSRC: ssrc, NTPTime: media.NTPTime(now),
			RTPTime:     lastTS + uint32(now.Sub(lastAt).Seconds()*float64(clock)),
			PacketCount: sent, OctetCount: octets})
	}
	l.smu.Lock()
	rs, remote := l.ars, l.remoteAudioSSRC
	var rr rtcp.ReceptionReport
	ok := rs != nil && rs.started && remote != 0
	if ok {
		expected := int64(rs.high-rs.base) + 1
		lost := max(expected-rs.received, 0)
		de, dr := expected-l.rrExpected, rs.received-l.rrReceived
		frac := uint8(0)
		if de > 0 && de > dr {
			frac = uint8(((de - dr) << 8) / de)
		}
		l.rrExpected, l.rrReceived = expected, rs.received
		rr = rtcp.ReceptionReport{SSRC: remote, FractionLost: frac, TotalLost: uint32(min(lost, 0x7fffff)),
			LastSequenceNumber: rs.high, Jitter: uint32(rs.jitter)}
	}
	l.smu.Unlock()
	if ok {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: ssrc, Reports: []rtcp.ReceptionReport{rr}})
	}
	return pkts
}
