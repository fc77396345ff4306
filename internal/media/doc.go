// Package media holds SPLIT's allocation-free audio primitives for the
// SIP <-> WebRTC media plane: codec descriptions and transcoding, G.711,
// Opus, a jitter buffer, RTP header rewriting for passthrough, RFC 4733
// DTMF events and test tones.
//
// Everything here is a plain step function driven by its caller: there are
// no goroutines, timers or clocks in this package, and the per-frame and
// per-packet paths do not allocate once their objects are constructed (see
// the benchmarks). Unless a type says otherwise it is not safe for
// concurrent use; one object serves one stream on one goroutine.
//
// Relevant specifications:
//   - RTP: RFC 3550 https://www.rfc-editor.org/rfc/rfc3550
//   - RTP payload for DTMF digits (telephone-event): RFC 4733
//     https://www.rfc-editor.org/rfc/rfc4733
//   - Opus codec: RFC 6716 https://www.rfc-editor.org/rfc/rfc6716
//   - RTP payload format for Opus: RFC 7587 https://www.rfc-editor.org/rfc/rfc7587
//   - G.711 (PCMU/PCMA) in RTP: RFC 3551 section 4.5.14
//     https://www.rfc-editor.org/rfc/rfc3551#section-4.5.14
//
// Opus has two interchangeable backends selected at build time: the pure-Go
// github.com/thesyncim/gopus (default) and libopus through cgo
// (gopkg.in/hraban/opus.v2, build with -tags 'libopus nolibopusfile').
// OpusBackend names the one compiled in.
//
// The Opus <-> G.711 path runs Opus natively at 8 kHz mono, so no resampler
// is involved. RFC 7587 always signals Opus as opus/48000/2 and its RTP clock
// always runs at 48 kHz, whatever the encoder's internal rate or channel
// count; a mono narrowband stream is a valid Opus stream for any receiver.
package media
