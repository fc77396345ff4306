// Package rtt holds the real-time text (RTT) building blocks of the Deaf
// Interpreter mode (issue 10, item 3): T.140 text handling, the RFC 4103
// RTP payload text/t140 with RFC 2198 "red" redundancy, and T.140 over a
// WebRTC data channel (RFC 8865), plus a Bridge between the two transports.
//
// Nothing here starts a goroutine or touches the network: the Encoder,
// Decoder and Bridge are driven by their caller (a packet in, a tick of the
// clock), so the hub decides which goroutine owns them and when they stop.
//
// References:
//   - ITU-T T.140 (and its Amendment 1): the presentation-level protocol —
//     UTF-8 text, BACKSPACE erasure, LINE SEPARATOR U+2028 as new line,
//     BOM U+FEFF as a no-op, the missing-text marker U+FFFD.
//   - RFC 4103: RTP Payload for Text Conversation (text/t140, clock 1000 Hz,
//     redundancy, marker bit after idle, loss detection by sequence number).
//   - RFC 2198: RTP Payload for Redundant Audio Data (the red block headers).
//   - RFC 8865: T.140 Real-Time Text Conversation over WebRTC Data Channels.
package rtt
