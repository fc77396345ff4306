package bridge

// ManualPlayout makes jitter-buffered links wait for PlayoutStep instead of
// a 20 ms ticker, so tests need no clock.
func ManualPlayout(o Options) Options { o.manualPlayout = true; return o }

// PlayoutStep plays one frame out of k's jitter buffer.
func (k *Link) PlayoutStep() { k.playoutStep() }
