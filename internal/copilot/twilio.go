package copilot

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/split-hub/split/internal/media"
)

// The Twilio Media Streams shape (docs/copilot.md §4): what Twilio sends a
// `<Stream>` service, so that services built for it connect unchanged.

// TwilioStream numbers one socket's messages.
// It is safe for concurrent use.
type TwilioStream struct {
	StreamSID, AccountSID, CallSID string

	mu     sync.Mutex
	seq    int
	chunks map[string]int
}

func (t *TwilioStream) next() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	return strconv.Itoa(t.seq)
}

type twilioMediaFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sampleRate"`
	Channels   int    `json:"channels"`
}

// Connected is the first message.
func (t *TwilioStream) Connected() []byte {
	return mustJSON(map[string]any{"event": "connected", "protocol": "Call", "version": "1.0.0"})
}

// Start names the tracks and the custom parameters (session, participant
// labels).
func (t *TwilioStream) Start(tracks []string, params map[string]string) []byte {
	return mustJSON(map[string]any{"event": "start", "sequenceNumber": t.next(), "streamSid": t.StreamSID,
		"start": map[string]any{"accountSid": t.AccountSID, "callSid": t.CallSID, "streamSid": t.StreamSID, "tracks": tracks,
			"customParameters": params, "mediaFormat": twilioMediaFormat{Encoding: "audio/x-mulaw", SampleRate: 8000, Channels: 1}}})
}

// Media is one 20 ms frame of 8 kHz audio on track, μ-law and base64 as
// Twilio sends it; timestamp is milliseconds since the stream started.
func (t *TwilioStream) Media(track string, timestampMS int64, pcm8k []int16) []byte {
	seq := t.next()
	t.mu.Lock()
	if t.chunks == nil {
		t.chunks = map[string]int{}
	}
	t.chunks[track]++
	chunk := t.chunks[track]
	t.mu.Unlock()
	u := make([]byte, len(pcm8k))
	media.EncodeUlaw(u, pcm8k)
	return mustJSON(map[string]any{"event": "media", "sequenceNumber": seq, "streamSid": t.StreamSID,
		"media": map[string]string{"track": track, "chunk": strconv.Itoa(chunk), "timestamp": strconv.FormatInt(timestampMS, 10),
			"payload": base64.StdEncoding.EncodeToString(u)}})
}

// Stop is the last message.
func (t *TwilioStream) Stop() []byte {
	return mustJSON(map[string]any{"event": "stop", "sequenceNumber": t.next(), "streamSid": t.StreamSID,
		"stop": map[string]string{"accountSid": t.AccountSID, "callSid": t.CallSID}})
}

// Mark echoes a service's mark once what it sent before it has played.
func (t *TwilioStream) Mark(name string) []byte {
	return mustJSON(map[string]any{"event": "mark", "sequenceNumber": t.next(), "streamSid": t.StreamSID, "mark": map[string]string{"name": name}})
}

// DTMF is one digit a participant pressed (track "inbound_track" …).
func (t *TwilioStream) DTMF(track, digit string) []byte {
	return mustJSON(map[string]any{"event": "dtmf", "sequenceNumber": t.next(), "streamSid": t.StreamSID, "dtmf": map[string]string{"track": track, "digit": digit}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers: cannot fail
	}
	return b
}
