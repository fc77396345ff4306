// Package copilot is the Copilot AI mode's wire (docs/copilot.md): the
// frames the hub sends an AI service and the messages it takes back, in
// SPLIT's own format (`split.copilot.v1`: JSON control frames and binary
// 20 ms PCM16 frames per participant) and in the Twilio Media Streams shape.
// Everything here is pure encoding and checking; the tap, the rings and the
// client that connects come next (issue 11).
package copilot
