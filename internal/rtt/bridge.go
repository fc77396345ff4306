package rtt

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// BridgeConfig configures a Bridge: the RTP side's encoder and decoder
// (see SDPParams.EncoderConfig and DecoderConfig).
type BridgeConfig struct {
	Encoder EncoderConfig
	Decoder DecoderConfig
}

// Bridge converts between a browser's T.140 data channel (RFC 8865) and a
// SIP leg's RFC 4103 text stream, the gateway of RFC 8865: text from the
// data channel is buffered and sent as red/t140 packets at the RFC 4103
// interval; text from RTP is put in order, recovered from redundancy, marked
// with U+FFFD where it was lost, sanitised and handed back for the data
// channel (which is reliable, so needs no redundancy).
//
// A Bridge starts no goroutine. Its methods are safe for concurrent use, so
// the data channel's OnMessage, the RTP reader and the ticker of the owner
// may call it from their own goroutines.
type Bridge struct {
	mu    sync.Mutex
	enc   *Encoder
	dec   *Decoder
	toDC  Sanitizer
	fromD Sanitizer
}

// NewBridge returns a Bridge for cfg.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	enc, err := NewEncoder(cfg.Encoder)
	if err != nil {
		return nil, err
	}
	dec, err := NewDecoder(cfg.Decoder)
	if err != nil {
		return nil, err
	}
	return &Bridge{enc: enc, dec: dec}, nil
}

// Interval is how often the owner should call Tick.
func (b *Bridge) Interval() time.Duration { return b.enc.Interval() }

// FromDataChannel accepts one data-channel message and queues it for the
// RTP side. It returns the text as queued (sanitised), for the console and
// the history. Invalid UTF-8 gives ErrInvalidUTF8 but the text, with
// U+FFFD for the bad bytes, is still queued.
func (b *Bridge) FromDataChannel(msg []byte) (string, error) {
	text, err := DecodeMessage(msg)
	b.mu.Lock()
	defer b.mu.Unlock()
	text = b.fromD.Clean(text)
	b.enc.Write(text)
	return text, err
}

// FromRTP accepts one packet of the SIP leg's text stream and returns the
// text now due on the data channel (send it with Messages), sanitised.
func (b *Bridge) FromRTP(p *rtp.Packet, now time.Time) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	text, err := b.dec.Push(p, now)
	return b.toDC.Clean(text), err
}

// Tick runs both directions' clocks: it returns the RTP packet due on the
// SIP leg (nil if none) and text from RTP released after a reorder wait,
// due on the data channel ("" if none). Call it every Interval.
func (b *Bridge) Tick(now time.Time) (*rtp.Packet, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.enc.Tick(now), b.toDC.Clean(b.dec.Tick(now))
}

// Stats returns the RTP receiver's counters.
func (b *Bridge) Stats() DecoderStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dec.Stats()
}
