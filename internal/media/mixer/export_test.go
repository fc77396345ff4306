package mixer

// ManualTick makes the mixer start no goroutine: tests call Tick for each
// 20 ms frame, so they need no clock.
func ManualTick(o Options) Options { o.manualTick = true; return o }

// Tick runs one 20 ms mixing step.
func (m *Mixer) Tick() { m.tick() }

// Running reports whether the mixer's goroutine has been started and not
// yet stopped by Close.
func (m *Mixer) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stop != nil
}
