package copilot

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/split-hub/split/internal/media"
)

// The Twilio Media Streams shape (docs/copilot.md §4): what Twilio sends a
// `<Stream>` service, so that services built for it connect unchanged.

// TwilioStream numbers one socket's messages.
type TwilioStream struct {
	StreamSID, AccountSID, CallSID string
	seq                            int
	chunks                         map[string]int
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
	t.seq++
	return mustJSON(map[string]any{"event": "start", "sequenceNumber": strconv.Itoa(t.seq), "streamSid": t.StreamSID,
		"start": map[string]any{"accountSid": t.AccountSID, "callSid": t.CallSID, "streamSid": t.StreamSID, "tracks": tracks,
			"customParameters": params, "mediaFormat": twilioMediaFormat{Encoding: "audio/x-mulaw", SampleRate: 8000, Channels: 1}}})
}

// Media is one 20 ms frame of 8 kHz audio on track, μ-law and base64 as
// Twilio sends it; timestamp is milliseconds since the stream started.
func (t *TwilioStream) Media(track string, timestampMS int64, pcm8k []int16) []byte {
	if t.chunks == nil {
		t.chunks = map[string]int{}
	}
	t.seq++
	t.chunks[track]++
	u := make([]byte, len(pcm8k))
	media.EncodeUlaw(u, pcm8k)
	return mustJSON(map[string]any{"event": "media", "sequenceNumber": strconv.Itoa(t.seq), "streamSid": t.StreamSID,
		"media": map[string]string{"track": track, "chunk": strconv.Itoa(t.chunks[track]), "timestamp": strconv.FormatInt(timestampMS, 10),
			"payload": base64.StdEncoding.EncodeToString(u)}})
}

// Stop is the last message.
func (t *TwilioStream) Stop() []byte {
	t.seq++
	return mustJSON(map[string]any{"event": "stop", "sequenceNumber": strconv.Itoa(t.seq), "streamSid": t.StreamSID,
		"stop": map[string]string{"accountSid": t.AccountSID, "callSid": t.CallSID}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers: cannot fail
	}
	return b
}
