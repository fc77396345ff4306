package hub

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/split-hub/split/internal/acd"
	"github.com/split-hub/split/internal/session"
)

// The interpreter mode's video: the session's one codec (ivVideoCodecs,
// §7.2, from what the consoles reported at login) and the hub's own count
// of the video it forwards (docs/interpreter.md §7.4):
// every videoSample, the frames sent to each leg that receives video give
// its frame rate. Each sample goes to split_video_fps{mode}; the history
// gets video.quality {leg, fps, by: "hub", low} when a leg's rate is below
// ivMinFPS, and once a minute otherwise — what a video relay service shows
// when a deaf user says the signing was hard to follow.

const (
	videoSample        = 10 * time.Second
	videoQualityPeriod = time.Minute
	ivMinFPS           = 20 // hello.interpreter.video.min_fps
)

// watchVideo starts the sampling of s (session goroutine).
func (h *Hub) watchVideo(s *session.Session) {
	last := map[string]uint64{}
	recorded := map[string]time.Time{}
	at := time.Now()
	var tick func()
	tick = func() {
		now := time.Now()
		frames := s.VideoFrames()
		dt := now.Sub(at).Seconds()
		mode := string(s.Info().Mode)
		for leg, n := range frames {
			prev, ok := last[leg]
			if !ok || n < prev || dt <= 0 {
				continue // joined during this period: from the next one
			}
			fps := math.Round(float64(n-prev)/dt*10) / 10
			h.m.VideoFPS(mode, fps)
			low := fps < ivMinFPS
			if low || now.Sub(recorded[leg]) >= videoQualityPeriod {
				recorded[leg] = now
				s.Record("video.quality", leg, map[string]any{"fps": fps, "by": "hub", "low": low})
			}
		}
		last, at = frames, now
		h.after(s, videoSample, tick)
	}
	h.after(s, videoSample, tick)
}

// setVideoCodecs keeps what a console said its browser can do with video
// (at most 8 names, upper-cased; anything else is dropped).
func (c *conn) setVideoCodecs(names []string) {
	var out []string
	for _, n := range names {
		n = strings.ToUpper(strings.TrimSpace(n))
		if len(out) < 8 && n != "" && len(n) <= 16 {
			out = append(out, n)
		}
	}
	c.mu.Lock()
	c.vcodecs = out
	c.mu.Unlock()
}

func (c *conn) hasVideoCodec(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.vcodecs, name)
}

// ivVideoCodecs is the preference for an interpreter session's one video
// codec (docs/interpreter.md §7.2): H.264 (the RFC 9248 profile) when every
// interpreter logged in to the queue that will serve it has a console that
// encodes and decodes it — a session forwards one codec to every leg, so
// one interpreter without it (Firefox without the OpenH264 plug-in) would
// get no video — and VP8 otherwise. The deaf user's own offer decides
// between the two as usual.
func (h *Hub) ivVideoCodecs(queue string) []string {
	vp8 := []string{"VP8", "H264"}
	if queue == "" {
		return vp8
	}
	n := 0
	for _, a := range h.acd.Agents() {
		if a.State == acd.StateLoggedOut || !slices.Contains(a.Queues, queue) {
			continue
		}
		for _, c := range h.agentConns(a.ID) {
			if !c.hasVideoCodec("H264") {
				return vp8
			}
			n++
		}
	}
	if n == 0 {
		return vp8
	}
	return []string{"H264", "VP8"}
}
