// Package mixer mixes the audio of three or more legs: a conference, or a
// supervisor who listens to, whispers to or barges into an agent's call.
//
// Every participant hears the sum of the others and never itself
// (mix-minus). A listen matrix (SetHears) narrows that per listener and
// speaker, and a muted participant (SetMuted) hears but is not heard.
//
//	leg reader ──▶ input.WriteRTP: parse, tag codec, JitterBuffer.Push      (per packet, no lock, no alloc)
//	                                          │
//	ticker (one goroutine per Mixer, 20 ms) ──▼
//	  pull:  Pop ─▶ decode / conceal ─▶ resample to the mixing rate ─▶ one frame per participant
//	  mix:   total = Σ speakers (int32); listener = total − excluded, or Σ heard (whichever is shorter)
//	  send:  saturate to int16 ─▶ (decimate to 8 kHz) ─▶ encode in t.Send()'s codec ─▶ t.In.WriteRTP
//
// Codecs: PCMU/8000, PCMA/8000 and opus/48000. Opus is decoded and encoded
// at the mixing rate by the codec itself (Options.Rate 8000 gives
// narrowband Opus, like the bridge's transcoder; 48000 gives fullband), so
// only G.711 participants are resampled, and only when Rate is above
// 8000: see upsampler and decimator in resample.go. RFC 4733
// telephone-events and comfort noise are counted and ignored (DTMF is not
// audio; a leg that wants digits reads them elsewhere).
//
// Each participant's packets go through its own media.JitterBuffer of
// Options.JitterFrames packets. A lost packet is concealed by the Opus
// decoder (or is silence for G.711); a source that stops sending
// contributes silence. Malformed packets, unknown payload types and
// oversized payloads are counted (Counters.Dropped) and dropped.
//
// Shared work: the mix of listeners who hear the same set of active
// speakers is computed once per tick, and at Rate 8000 listeners with the
// same G.711 codec also share the encoded payload (G.711 is stateless).
// Opus listeners always encode separately, since an Opus encoder carries
// state from frame to frame and a listener must keep its own stream; at
// Rates above 8000, G.711 listeners also decimate separately for the same
// reason (the filter has history).
//
// Specifications: RTP RFC 3550 https://www.rfc-editor.org/rfc/rfc3550,
// G.711 in RTP RFC 3551 section 4.5.14, Opus RFC 6716 and RFC 7587,
// telephone-event RFC 4733.
package mixer
