package session

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media"
	"github.com/split-hub/split/internal/media/bridge"
	"github.com/split-hub/split/internal/media/mixer"
)

// Mixer is a mix-minus audio mixer for groups of three or more voices
// (and for every size of a directed group, see Policy).
type Mixer interface {
	Add(id string, t *leg.Track) error
	Remove(id string)
	// SetHears sets whether listener hears speaker (default: everyone
	// hears everyone else).
	SetHears(listener, speaker string, hears bool)
	Close()
}

// MediaOptions tune the media plan.
type MediaOptions struct {
	Bridge   bridge.Options
	NewMixer func() Mixer // nil: groups larger than two are bridged pairwise to the first member
}

// LinkStats are the counters of one audio link of the plan.
type LinkStats struct {
	Group      string `json:"group"`
	From       string `json:"from"`
	To         string `json:"to"`
	Path       string `json:"path"`
	Forwarded  uint64 `json:"forwarded"`
	Transcoded uint64 `json:"transcoded"`
	Dropped    uint64 `json:"dropped"`
}

// plan is the session's media graph. It is driven by the session goroutine
// only; the packet path (leg reader goroutines) reads atomics.
type plan struct {
	log    *slog.Logger
	opts   MediaOptions
	groups map[string]*audioGroup
	srcs   map[*leg.Track]*videoSource
	sinks  map[*leg.Track]*videoSink
	tap    mixer.Tap // on the main group's mixer (Session.SetTap)
}

// tapper is a Mixer that can tap its participants' audio (mixer.Mixer).
type tapper interface{ SetTap(mixer.Tap) }

type audioGroup struct {
	key     string
	ids     []string
	bridges []*bridge.Bridge
	mx      Mixer
	// directed: a policy's group, always mixed; its members come and go on
	// the live mixer, so each listener's output stream (SSRC, sequence,
	// timestamps) survives a change of the others — a phone party does not
	// see a new stream when the interpreter it hears changes.
	directed bool
	members  map[string]*leg.Track
	deaf     map[[2]string]bool // listener, speaker → not heard (as last pushed)
}

func newPlan(log *slog.Logger, o MediaOptions) *plan {
	return &plan{log: log, opts: o, groups: map[string]*audioGroup{},
		srcs: map[*leg.Track]*videoSource{}, sinks: map[*leg.Track]*videoSink{}}
}

func (p *plan) apply(legs []*Leg, held bool, pol Policy, ov Override) {
	// --- audio: one link per group ---
	want := map[string][]*Leg{}
	for _, l := range legs {
		if l.EP.Audio() == nil || (held && l.Role == RoleCustomer) {
			continue
		}
		if l.EP.Audio().Send().Name == "" {
			continue // not negotiated yet (a SIP leg before its answer): Replan when it is
		}
		want[l.Group] = append(want[l.Group], l)
	}
	directed := func(name string) bool {
		return (pol != nil || p.tap != nil || ov != nil) && name == "" && p.opts.NewMixer != nil
	}
	for name, g := range p.groups {
		members := want[name]
		switch {
		case g.directed && directed(name) && len(members) > 0:
			continue // kept: members change on the live mixer (p.direct)
		case g.directed || directed(name) || len(members) < 2 || groupKey(members) != g.key:
			g.close()
			delete(p.groups, name)
		}
	}
	for name, members := range want {
		if directed(name) {
			p.direct(name, members, pol, ov)
			continue
		}
		if len(members) < 2 || p.groups[name] != nil {
			continue
		}
		p.groups[name] = p.connect(members)
	}

	// --- video: the customer's camera to every agent-side viewer, the
	// primary agent's camera to the customer ---
	routes := map[*leg.Track]*leg.Track{} // sink → source
	var customer *Leg
	for _, l := range legs {
		if l.Role == RoleCustomer && l.EP.Video() != nil {
			customer = l
			break
		}
	}
	if customer != nil && !held {
		var primary *Leg
		rank := func(r Role) int {
			switch r {
			case RoleAgent, RoleViewer, RoleInterpreter:
				return 3
			case RoleSupervisor:
				return 2
			case RoleACD:
				return 1
			}
			return 0
		}
		for _, l := range legs {
			v := l.EP.Video()
			if v == nil || rank(l.Role) == 0 {
				continue
			}
			if compatible(customer.EP.Video(), v) {
				routes[v] = customer.EP.Video()
			}
			if primary == nil || rank(l.Role) >= rank(primary.Role) {
				primary = l
			}
		}
		if pol != nil {
			for _, l := range legs {
				if l.ID == pol.Lead() && l.EP.Video() != nil {
					primary = l
				}
			}
		}
		if primary != nil && compatible(primary.EP.Video(), customer.EP.Video()) {
			routes[customer.EP.Video()] = primary.EP.Video()
		}
	}
	p.routeVideo(routes)
}

func compatible(src, dst *leg.Track) bool {
	a, b := src.Send(), dst.Send()
	return a.Name == "" || b.Name == "" || strings.EqualFold(a.Name, b.Name)
}

func groupKey(ls []*Leg) string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func (p *plan) connect(members []*Leg) *audioGroup {
	g := &audioGroup{key: groupKey(members)}
	for _, l := range members {
		g.ids = append(g.ids, l.ID)
	}
	if len(members) == 2 {
		g.bridges = append(g.bridges, bridge.ConnectWith(p.opts.Bridge, members[0].EP.Audio(), members[1].EP.Audio(), nil, nil))
		return g
	}
	if p.opts.NewMixer != nil {
		g.mx = p.opts.NewMixer()
		for _, l := range members {
			if err := g.mx.Add(l.ID, l.EP.Audio()); err != nil {
				p.log.Warn("mixer: cannot add leg", "leg", l.ID, "err", err)
			}
		}
		return g
	}
	// No mixer: the first member (the customer, normally) talks with the
	// most recent member only.
	g.bridges = append(g.bridges, bridge.ConnectWith(p.opts.Bridge, members[0].EP.Audio(), members[len(members)-1].EP.Audio(), nil, nil))
	return g
}

// direct keeps a policy's group: one mixer for any number of members,
// joined and left on the live mixer, and the policy's listen matrix pushed
// after every change (only the pairs that changed reach the mixer).
func (p *plan) direct(name string, members []*Leg, pol Policy, ov Override) {
	g := p.groups[name]
	if g == nil {
		g = &audioGroup{directed: true, mx: p.opts.NewMixer(), members: map[string]*leg.Track{}, deaf: map[[2]string]bool{}}
		p.groups[name] = g
	}
	now := map[string]*Leg{}
	for _, l := range members {
		now[l.ID] = l
	}
	for id, t := range g.members {
		if l := now[id]; l == nil || l.EP.Audio() != t {
			g.mx.Remove(id)
			delete(g.members, id)
			for k := range g.deaf {
				if k[0] == id || k[1] == id {
					delete(g.deaf, k)
				}
			}
		}
	}
	// the matrix first, so a new member is never heard (or hears) for a
	// tick before its links are set
	for _, a := range members {
		for _, b := range members {
			if a == b {
				continue
			}
			k := [2]string{a.ID, b.ID}
			hears, ok := false, false
			if ov != nil {
				hears, ok = ov.Hears(a, b)
			}
			if !ok {
				hears = pol == nil || pol.Hears(a, b)
			}
			deaf := !hears
			if old, known := g.deaf[k]; known && old == deaf {
				continue
			}
			g.deaf[k] = deaf
			g.mx.SetHears(a.ID, b.ID, !deaf)
		}
	}
	for _, l := range members {
		if g.members[l.ID] != nil {
			continue
		}
		if err := g.mx.Add(l.ID, l.EP.Audio()); err != nil {
			p.log.Warn("mixer: cannot add leg", "leg", l.ID, "err", err)
			continue
		}
		g.members[l.ID] = l.EP.Audio()
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	g.ids, g.key = ids, strings.Join(ids, ",")
	if t, ok := g.mx.(tapper); ok {
		t.SetTap(p.tap)
	}
}

func (g *audioGroup) close() {
	for _, b := range g.bridges {
		b.Close()
	}
	if g.mx != nil {
		g.mx.Close()
	}
}

// forget drops every reference to l's tracks (l has left).
func (p *plan) forget(l *Leg) {
	if v := l.EP.Video(); v != nil {
		if s := p.srcs[v]; s != nil {
			v.SetOutput(nil)
			delete(p.srcs, v)
		}
		if k := p.sinks[v]; k != nil {
			v.OnKeyframeRequest(nil)
			delete(p.sinks, v)
		}
	}
}

func (p *plan) close() {
	for name, g := range p.groups {
		g.close()
		delete(p.groups, name)
	}
	p.routeVideo(nil)
}

func (p *plan) stats() []LinkStats {
	var out []LinkStats
	for name, g := range p.groups {
		for _, b := range g.bridges {
			for _, k := range []*bridge.Link{b.AtoB, b.BtoA} {
				out = append(out, LinkStats{Group: name, Path: k.Path().String(), Forwarded: k.C.Forwarded.Load(),
					Transcoded: k.C.Transcoded.Load(), Dropped: k.C.Dropped.Load()})
			}
		}
		if g.mx != nil {
			out = append(out, LinkStats{Group: name, Path: "mix"})
		}
	}
	return out
}

// --- video routing ---

// videoSource fans one leg's video out to its sinks.
type videoSource struct {
	src   *leg.Track
	sinks atomic.Pointer[[]*videoSink]
}

func (v *videoSource) WriteRTP(pkt []byte) error {
	if ks := v.sinks.Load(); ks != nil {
		for _, k := range *ks {
			k.write(v.src, pkt)
		}
	}
	return nil
}

// videoSink feeds one leg's outgoing video from one source at a time. Its
// rewriter keeps the stream continuous (sequence numbers and timestamps)
// when the source changes — a transfer moves the customer's view to the new
// agent without a gap the browser would treat as loss.
type videoSink struct {
	dst *leg.Track
	src atomic.Pointer[leg.Track]

	mu  sync.Mutex
	rw  *media.Rewriter
	buf [1500]byte

	// frames counts the video frames forwarded to dst (packets with the
	// RTP marker bit: the last packet of a frame), for the hub's fps.
	frames atomic.Uint64
}

func (k *videoSink) write(from *leg.Track, pkt []byte) {
	if k.src.Load() != from || len(pkt) > len(k.buf) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	n := copy(k.buf[:], pkt)
	if k.rw.Rewrite(k.buf[:n]) != nil {
		return
	}
	if n > 1 && k.buf[1]&0x80 != 0 {
		k.frames.Add(1)
	}
	_ = k.dst.In.WriteRTP(k.buf[:n])
}

func (p *plan) routeVideo(routes map[*leg.Track]*leg.Track) {
	// sinks
	for dst, k := range p.sinks {
		if routes[dst] == nil {
			k.src.Store(nil)
		}
	}
	bySrc := map[*leg.Track][]*videoSink{}
	for dst, src := range routes {
		k := p.sinks[dst]
		if k == nil {
			k = &videoSink{dst: dst, rw: media.NewRewriter(0, 3000)}
			p.sinks[dst] = k
			dst.OnKeyframeRequest(func() {
				if s := k.src.Load(); s != nil {
					s.RequestKeyframe()
				}
			})
		}
		if k.src.Swap(src) != src {
			src.RequestKeyframe()
		}
		bySrc[src] = append(bySrc[src], k)
	}
	// sources
	for src, v := range p.srcs {
		if bySrc[src] == nil {
			src.SetOutput(nil)
			delete(p.srcs, src)
			_ = v
		}
	}
	for src, ks := range bySrc {
		v := p.srcs[src]
		if v == nil {
			v = &videoSource{src: src}
			p.srcs[src] = v
			src.SetOutput(v)
		}
		ks := ks
		v.sinks.Store(&ks)
	}
}

// videoFrames is the number of video frames forwarded so far to each leg
// that receives video, by leg id (session goroutine).
func (p *plan) videoFrames(legs []*Leg) map[string]uint64 {
	out := map[string]uint64{}
	for _, l := range legs {
		v := l.EP.Video()
		if v == nil {
			continue
		}
		if k := p.sinks[v]; k != nil && k.src.Load() != nil {
			out[l.ID] = k.frames.Load()
		}
	}
	return out
}
