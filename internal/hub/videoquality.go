package hub

import (
	"math"
	"time"

	"github.com/split-hub/split/internal/session"
)

// The hub's own count of the video it forwards (docs/interpreter.md §7.4):
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
