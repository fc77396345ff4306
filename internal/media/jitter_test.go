package media

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func newJB(t testing.TB, cfg JitterConfig) *JitterBuffer {
	t.Helper()
	j, err := NewJitterBuffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func seqPayload(seq uint16) []byte { return []byte{byte(seq >> 8), byte(seq), 0xAA} }

// pushSeqs pushes packets whose timestamp is seq*160 and payload encodes seq.
func pushSeqs(j *JitterBuffer, seqs ...uint16) {
	for _, s := range seqs {
		j.Push(s, uint32(s)*160, seqPayload(s))
	}
}

// popTrace pops n times: a number for a packet, "L" for lost, "-" for nothing.
func popTrace(t testing.TB, j *JitterBuffer, n int) string {
	t.Helper()
	var out []string
	for range n {
		p, ok, lost := j.Pop()
		switch {
		case ok && lost:
			t.Fatal("ok and lost both set")
		case ok:
			if len(p) != 3 || p[2] != 0xAA {
				t.Fatalf("bad payload %x", p)
			}
			out = append(out, strconv.Itoa(int(uint16(p[0])<<8|uint16(p[1]))))
		case lost:
			out = append(out, "L")
		default:
			out = append(out, "-")
		}
	}
	return strings.Join(out, ",")
}

func expectTrace(t *testing.T, j *JitterBuffer, n int, want string) {
	t.Helper()
	if got := popTrace(t, j, n); got != want {
		t.Fatalf("pop trace %q, want %q (stats %+v)", got, want, j.Stats())
	}
}

func TestJitterInOrderWaitsForTarget(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 3})
	expectTrace(t, j, 1, "-")
	pushSeqs(j, 10)
	expectTrace(t, j, 1, "-")
	pushSeqs(j, 11)
	expectTrace(t, j, 1, "-")
	pushSeqs(j, 12)
	expectTrace(t, j, 1, "10")
	pushSeqs(j, 13)
	expectTrace(t, j, 1, "11")
	pushSeqs(j, 14)
	expectTrace(t, j, 3, "12,13,14")
	// Empty while playing: underrun, then rebuffer to the target.
	expectTrace(t, j, 1, "-")
	pushSeqs(j, 15, 16)
	expectTrace(t, j, 1, "-")
	pushSeqs(j, 17)
	expectTrace(t, j, 4, "15,16,17,-")
	st := j.Stats()
	if st.Popped != 8 || st.Underrun != 2 || st.Lost != 0 || st.Pushed != 8 {
		t.Fatalf("stats %+v", st)
	}
	if seq, ts := j.LastPopped(); seq != 17 || ts != 17*160 {
		t.Fatalf("LastPopped %d %d", seq, ts)
	}
}

func TestJitterReorder(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 3})
	pushSeqs(j, 2, 1, 4, 3) // early reorder moves the start back to 1
	expectTrace(t, j, 1, "1")
	pushSeqs(j, 6, 5, 7)
	expectTrace(t, j, 7, "2,3,4,5,6,7,-")
	if st := j.Stats(); st.Lost != 0 || st.Late != 0 || st.Popped != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJitterLossAndLate(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 2})
	pushSeqs(j, 1, 2, 3, 5, 6)
	expectTrace(t, j, 4, "1,2,3,L")
	// 4 arrives after its playout time.
	if r := j.Push(4, 4*160, seqPayload(4)); r != PushLate {
		t.Fatalf("late push: %v", r)
	}
	expectTrace(t, j, 3, "5,6,-")
	// Two consecutive losses.
	pushSeqs(j, 7, 10, 11)
	expectTrace(t, j, 6, "7,L,L,10,11,-")
	st := j.Stats()
	if st.Lost != 3 || st.Late != 1 || st.Popped != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJitterDuplicate(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 1})
	pushSeqs(j, 1)
	if r := j.Push(1, 160, seqPayload(1)); r != PushDuplicate {
		t.Fatalf("buffered duplicate: %v", r)
	}
	expectTrace(t, j, 1, "1")
	if r := j.Push(1, 160, seqPayload(1)); r != PushDuplicate {
		t.Fatalf("played duplicate: %v", r)
	}
	pushSeqs(j, 2, 2, 3)
	expectTrace(t, j, 3, "2,3,-")
	if st := j.Stats(); st.Duplicate != 3 || st.Late != 0 || st.Popped != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJitterWrap(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 2, MaxTSJump: 48000 * 30})
	base := uint32(0xFFFFFFFF - 2*960 + 1) // timestamps wrap too
	seqs := []uint16{65533, 65535, 65534, 0, 2, 1, 3}
	for _, s := range seqs {
		k := uint32(s - 65533)
		if r := j.Push(s, base+k*960, seqPayload(s)); r != PushOK {
			t.Fatalf("push %d: %v", s, r)
		}
	}
	expectTrace(t, j, 8, "65533,65534,65535,0,1,2,3,-")
	if seq, ts := j.LastPopped(); seq != 3 || ts != base+6*960 {
		t.Fatalf("LastPopped %d %d", seq, ts)
	}
	if st := j.Stats(); st.Resets != 0 || st.Lost != 0 || st.Late != 0 {
		t.Fatalf("stats %+v", st)
	}
	if SeqDiff(0, 65535) != 1 || SeqDiff(65535, 0) != -1 || TSDiff(0, 0xFFFFFFFF) != 1 || TSDiff(5, 10) != -5 {
		t.Fatal("wrap arithmetic")
	}
}

func TestJitterBurstOverflow(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 3, MaxDelay: 10})
	pushSeqs(j, 1, 2, 3)
	expectTrace(t, j, 4, "1,2,3,-") // network stall: underrun
	// The stalled packets arrive in one burst of 20.
	for s := uint16(4); s < 24; s++ {
		pushSeqs(j, s)
	}
	// Delay is bounded: the oldest were dropped so that at most
	// TargetDelay..MaxDelay frames remain.
	if n := j.Len(); n < 3 || n > 10 {
		t.Fatalf("Len %d after burst", n)
	}
	st := j.Stats()
	if st.Overflow == 0 || st.Overflow+uint64(j.Len()) != 20 {
		t.Fatalf("stats %+v len %d", st, j.Len())
	}
	trace := popTrace(t, j, j.Len()+1)
	if !strings.HasSuffix(trace, "21,22,23,-") || strings.Contains(trace, "L") {
		t.Fatalf("trace after burst %q", trace)
	}
}

func TestJitterReset(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 2})
	pushSeqs(j, 100, 101, 102)
	expectTrace(t, j, 2, "100,101")
	// New stream far ahead: flush and restart.
	if r := j.Push(30000, 1, seqPayload(30000)); r != PushReset {
		t.Fatalf("forward jump: %v", r)
	}
	pushSeqs(j, 30001)
	expectTrace(t, j, 3, "30000,30001,-")
	// New stream far behind.
	if r := j.Push(5, 1, seqPayload(5)); r != PushReset {
		t.Fatalf("backward jump: %v", r)
	}
	pushSeqs(j, 6)
	expectTrace(t, j, 2, "5,6")
	// New stream slightly behind: late until 10 in a row, then reset.
	var last PushResult
	for s := uint16(0); s < 10; s++ {
		last = j.Push(s-50, 0, seqPayload(s-50))
	}
	if last != PushReset {
		t.Fatalf("consecutive late: %v", last)
	}
	// Explicit reset (SSRC change).
	j.Reset()
	if j.Len() != 0 {
		t.Fatal("Reset kept packets")
	}
	pushSeqs(j, 7, 8)
	expectTrace(t, j, 2, "7,8")
	if st := j.Stats(); st.Resets != 4 || st.Late != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJitterTimestampJumpReset(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 1, MaxTSJump: 8000 * 30})
	j.Push(1, 1000, seqPayload(1))
	if r := j.Push(2, 1000+8000*10, seqPayload(2)); r != PushOK { // 10 s DTX gap: fine
		t.Fatalf("dtx gap: %v", r)
	}
	if r := j.Push(3, 0x80000000, seqPayload(3)); r != PushReset {
		t.Fatalf("ts jump: %v", r)
	}
	expectTrace(t, j, 2, "3,-")
}

func TestJitterTooLargeAndCopy(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 1, MaxPayload: 4})
	if r := j.Push(1, 0, make([]byte, 5)); r != PushTooLarge {
		t.Fatalf("too large: %v", r)
	}
	buf := []byte{1, 2, 3}
	j.Push(2, 0, buf)
	buf[0] = 9 // the buffer must have copied it
	p, ok, _ := j.Pop()
	if !ok || p[0] != 1 || len(p) != 3 {
		t.Fatalf("pop %v %v", p, ok)
	}
	if j.Stats().TooLarge != 1 {
		t.Fatal("TooLarge not counted")
	}
}

func TestJitterConfig(t *testing.T) {
	j := newJB(t, JitterConfig{Capacity: 50})
	c := j.Config()
	if c.Capacity != 64 || c.TargetDelay != 3 || c.MaxDelay != 10 || c.ResetJump != 100 || c.MaxPayload != 1500 {
		t.Fatalf("defaults %+v", c)
	}
	for _, bad := range []JitterConfig{
		{Capacity: 1}, {TargetDelay: -1}, {Capacity: 8, TargetDelay: 8}, {TargetDelay: 5, MaxDelay: 4},
		{MaxDelay: 20, ResetJump: 20}, {Capacity: 8192},
	} {
		if _, err := NewJitterBuffer(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	if PushLate.String() != "late" || PushResult(99).String() != "PushResult(99)" {
		t.Fatal("PushResult.String")
	}
}

func TestJitterConcurrentPushPop(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 3})
	const n = 2000
	var wg sync.WaitGroup
	wg.Go(func() {
		p := make([]byte, 160)
		for s := range n {
			j.Push(uint16(s), uint32(s)*160, p)
		}
	})
	pops := 0
	for range 3 * n {
		if _, ok, _ := j.Pop(); ok {
			pops++
		}
	}
	wg.Wait()
	for range n {
		if _, ok, _ := j.Pop(); ok {
			pops++
		}
	}
	st := j.Stats()
	if st.Pushed != n || uint64(pops) != st.Popped || st.Popped+st.Overflow+st.Late+st.Duplicate != n {
		t.Fatalf("pops %d stats %+v", pops, st)
	}
}

func TestJitterNoAllocs(t *testing.T) {
	j := newJB(t, JitterConfig{TargetDelay: 2})
	p := make([]byte, 160)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		j.Push(seq, uint32(seq)*160, p)
		seq++
		j.Pop()
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per packet", allocs)
	}
}

func BenchmarkJitterPushPop(b *testing.B) {
	j := newJB(b, JitterConfig{TargetDelay: 3})
	p := make([]byte, 160)
	var seq uint16
	b.ReportAllocs()
	for b.Loop() {
		j.Push(seq, uint32(seq)*160, p)
		seq++
		j.Pop()
	}
}
