package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// dashboardFile is the Grafana dashboard shipped for the hub (docs/deploy.md, Grafana).
const dashboardFile = "../../deploy/grafana/split-dashboard.json"

// family is one metric family the registry exports: its type and, per label,
// the values seen after the observations of exportedFamilies.
type family struct {
	typ    dto.MetricType
	labels map[string]map[string]bool
}

// exercised lists the methods exportedFamilies calls, per type: a method
// added to Metrics, SessionMetrics or MediaMetrics fails the test until it is
// called there too, so that its collectors are checked.
var exercised = map[string][]string{
	"Metrics": {"Copilot", "FastPath", "Handler", "InviteRejected", "NewMediaMetrics", "NewSessionMetrics",
		"PortsInUse", "SIPRefused", "SIPRequest", "CallStarted", "CallEnded", "SetupLatency", "TLSCertificates",
		"WSConnected", "WhatsAppWebhook"},
	"SessionMetrics": {"CallRecord", "ClusterRelay", "Interpreter", "Live", "NodeLost", "QueueWait", "RTTChars", "SessionEnded",
		"SessionSetup", "SessionStarted", "SessionState", "VideoFPS"},
	"MediaMetrics": {"LegMedia"},
}

// exportedFamilies builds the hub's registry as internal/app does, with every
// registration method, records one sample in every vector with the label
// values the hub uses, and returns what Gather lists.
func exportedFamilies(t *testing.T) map[string]*family {
	t.Helper()
	for typ, v := range map[string]any{"Metrics": &Metrics{}, "SessionMetrics": &SessionMetrics{}, "MediaMetrics": &MediaMetrics{}} {
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumMethod(); i++ {
			name := rt.Method(i).Name
			found := false
			for _, n := range exercised[typ] {
				found = found || n == name
			}
			if !found {
				t.Errorf("%s.%s is not exercised by exportedFamilies: call it there so its metrics are checked", typ, name)
			}
		}
	}

	m := New(func() float64 { return 2 })
	_ = m.Handler()
	for _, meth := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REFER", "other"} {
		m.SIPRequest(meth)
	}
	// internal/sipua (inbound.go, guard.go, whatsapp.go)
	for _, r := range []string{"forbidden", "malformed", "bad_source", "draining", "no_user", "unsupported_media", "bad_sdp",
		"no_codec", "no_ports", "panic"} {
		m.InviteRejected(r)
	}
	m.SIPRefused("rate_limited", "udp")
	m.SIPRefused("malformed", "tcp")
	for _, d := range []string{"inbound", "outbound"} { // sipua.Inbound, sipua.Outbound
		m.CallStarted(d)
		for _, r := range []string{"success", "failed", "cancelled"} { // gateway/call.go
			m.CallEnded(d, r, 42*time.Second)
		}
	}
	m.SetupLatency(80 * time.Millisecond)
	m.WSConnected(1)
	m.PortsInUse(func() float64 { return 1 })
	m.FastPath(func() float64 { return 1 }, func(string) float64 { return 10 })
	m.TLSCertificates([]string{"split.example.com"}, func(string) float64 { return float64(time.Now().Add(60 * 24 * time.Hour).Unix()) })
	outcomes := []string{"received", "refused", "malformed", "duplicate", "stale", "late_connect", "unrouted", "queue_full",
		"forwarded", "forward_retry", "dead_letter", "event"} // internal/app
	m.WhatsAppWebhook(outcomes, func() map[string]uint64 { return map[string]uint64{"received": 1} })
	m.Copilot([]string{"assist"}, func(string) [4]float64 { return [4]float64{1, 2, 3, 4} },
		func(string) float64 { return 1 }, func(string) float64 { return 1 })

	s := m.NewSessionMetrics()
	// internal/session: modes and states; internal/hub causeLabel: causes
	for _, mode := range []string{"forward", "reverse", "scheduled", "whatsapp", "interpreter"} {
		s.SessionStarted(mode)
		s.SessionState(mode, "created", "routing")
		s.SessionState(mode, "routing", "waiting")
		s.SessionState(mode, "waiting", "ringing")
		s.SessionState(mode, "ringing", "active")
		for _, c := range []string{"normal", "cancelled", "no_answer", "failed", "shutdown"} {
			s.SessionEnded(mode, c, time.Minute)
		}
		s.VideoFPS(mode, 25)
	}
	s.QueueWait("default", 12*time.Second)
	s.SessionSetup(2 * time.Second)
	s.Interpreter("phone_dialled")
	s.RTTChars("phone", 5)
	s.ClusterRelay("http")
	s.ClusterRelay("sip")
	s.NodeLost(3)
	// internal/records: Outcomes and Channels; internal/hub/records.go: queue
	// (configured, "" never queued, other) and service level
	for _, o := range []string{"answered", "abandoned", "overflowed", "unanswered"} {
		for _, ch := range []string{"web_video", "web_voice", "phone", "phone_video", "whatsapp", "whatsapp_call", "interpreter"} {
			s.CallRecord("sales", ch, o, map[bool]string{true: "met", false: "missed"}[o == "answered"])
		}
	}
	s.CallRecord("", "web_video", "unanswered", "none")
	s.CallRecord("other", "phone", "answered", "missed")
	s.Live(m.Registry, func() LiveFigures {
		return LiveFigures{Waiting: map[string]int{"sales": 2}, LongestWait: map[string]float64{"sales": 31},
			Agents: map[string]int{"ready": 1, "ringing": 0, "busy": 2, "wrap_up": 0, "not_ready": 1}}
	})

	mm := m.NewMediaMetrics()
	mm.LegMedia("sip", 500, 490, 10, 4*time.Millisecond)
	mm.LegMedia("webrtc", 500, 495, 5, 3*time.Millisecond)

	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	fams := map[string]*family{}
	for _, mf := range mfs {
		f := &family{typ: mf.GetType(), labels: map[string]map[string]bool{}}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if f.labels[lp.GetName()] == nil {
					f.labels[lp.GetName()] = map[string]bool{}
				}
				f.labels[lp.GetName()][lp.GetValue()] = true
			}
		}
		fams[mf.GetName()] = f
	}
	return fams
}

// targetLabels are added by Prometheus when it scrapes, not by the hub.
var targetLabels = map[string]bool{"instance": true, "job": true}

// series resolves a metric name of a query to its family: a histogram only
// by _bucket (with le), _sum and _count; a summary by its name (with
// quantile), _sum and _count.
func series(fams map[string]*family, name string) (f *family, labels map[string]bool, err error) {
	labels = map[string]bool{}
	add := func(f *family) {
		for l := range f.labels {
			labels[l] = true
		}
		for l := range targetLabels {
			labels[l] = true
		}
	}
	if f := fams[name]; f != nil {
		switch f.typ {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return nil, nil, fmt.Errorf("%s is a histogram: use %[1]s_bucket, %[1]s_sum or %[1]s_count", name)
		case dto.MetricType_SUMMARY:
			labels["quantile"] = true
		}
		add(f)
		return f, labels, nil
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		f := fams[base]
		if !ok || f == nil {
			continue
		}
		if f.typ == dto.MetricType_HISTOGRAM || (f.typ == dto.MetricType_SUMMARY && suf != "_bucket") {
			if suf == "_bucket" {
				labels["le"] = true
			}
			add(f)
			return f, labels, nil
		}
		return nil, nil, fmt.Errorf("%s: %s is a %s, it has no %s series", name, base, strings.ToLower(f.typ.String()), suf)
	}
	return nil, nil, fmt.Errorf("metric %s is not exported by the hub", name)
}

// A PromQL subset: enough for the dashboard, and an error for anything else,
// so that a construct the check does not understand fails instead of passing.

type token struct {
	kind byte // 'i' identifier, 'n' number, 's' string, 'r' range ([…] content), 'o' operator, 0 end
	text string
}

func lex(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || expr[j] == ':' || expr[j] >= 'a' && expr[j] <= 'z' ||
				expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			toks = append(toks, token{'i', expr[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.':
			loc := numberRE.FindStringIndex(expr[i:])
			if loc == nil {
				return nil, fmt.Errorf("bad number at %q", expr[i:])
			}
			toks = append(toks, token{'n', expr[i : i+loc[1]]})
			i += loc[1]
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(expr) && expr[j] != c; j++ {
				if expr[j] == '\\' && c != '`' && j+1 < len(expr) {
					j++
				}
				b.WriteByte(expr[j])
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			toks = append(toks, token{'s', b.String()})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated range in %q", expr)
			}
			toks = append(toks, token{'r', expr[i+1 : i+j]})
			i += j + 1
		default:
			if i+1 < len(expr) {
				if two := expr[i : i+2]; two == "==" || two == "!=" || two == "=~" || two == "!~" || two == ">=" || two == "<=" {
					toks = append(toks, token{'o', two})
					i += 2
					continue
				}
			}
			if !strings.ContainsRune("(){},+-*/%^=<>", rune(c)) {
				return nil, fmt.Errorf("unexpected %q in %q", c, expr)
			}
			toks = append(toks, token{'o', string(c)})
			i++
		}
	}
	return append(toks, token{}), nil
}

// value is what a (sub)expression yields: a scalar, or a vector with the
// labels its series can carry, and the metric families it reads.
type value struct {
	scalar bool
	labels map[string]bool
	sel    *selection // set when the expression is a bare selector
	used   []string   // metric names read
}

type selection struct {
	name     string
	fam      *family
	suffixed bool // a histogram's or summary's _bucket, _sum or _count
	rng      string
	inCall   string // the function the selector is an argument of
}

type promParser struct {
	toks    []token
	pos     int
	fams    map[string]*family
	errs    []string
	sels    []*selection
	unknown map[string]bool // metric names already reported as not exported
}

// known says whether every metric of used is exported: label checks on an
// unknown metric would only repeat its error.
func (p *promParser) known(used []string) bool {
	for _, u := range used {
		if p.unknown[u] {
			return false
		}
	}
	return true
}

var (
	aggregators   = map[string]bool{"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true, "stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true}
	rangeFuncs    = map[string]bool{"rate": true, "irate": true, "increase": true, "delta": true, "deriv": true, "avg_over_time": true, "max_over_time": true, "min_over_time": true}
	counterFuncs  = map[string]bool{"rate": true, "irate": true, "increase": true}
	samePosFuncs  = map[string]bool{"abs": true, "ceil": true, "floor": true, "round": true, "sqrt": true, "clamp_min": true, "clamp_max": true}
	binaryOps     = map[string]int{"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">": 3, "<": 3, ">=": 3, "<=": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}
	numberRE      = regexp.MustCompile(`^[0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?`)
	simpleAltExpr = regexp.MustCompile(`^[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*$`)
)

func (p *promParser) peek() token { return p.toks[p.pos] }
func (p *promParser) next() token { t := p.toks[p.pos]; p.pos++; return t }
func (p *promParser) failf(format string, a ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, a...))
}
func (p *promParser) expect(text string) {
	if t := p.next(); t.text != text || t.kind == 's' {
		panic(fmt.Sprintf("expected %q, got %q", text, t.text))
	}
}

func (p *promParser) labelList() []string {
	p.expect("(")
	var ls []string
	for p.peek().text != ")" {
		t := p.next()
		if t.kind != 'i' {
			panic(fmt.Sprintf("expected a label name, got %q", t.text))
		}
		ls = append(ls, t.text)
		if p.peek().text == "," {
			p.next()
		}
	}
	p.expect(")")
	return ls
}

func union(a, b []string) []string { return append(append([]string{}, a...), b...) }

func (p *promParser) expr(minPrec int) value {
	left := p.unary()
	for {
		t := p.peek()
		prec, ok := binaryOps[t.text]
		if !ok || t.kind == 's' || prec < minPrec {
			return left
		}
		p.next()
		if p.peek().text == "bool" {
			p.next()
		}
		var on, ignoring []string
		switch p.peek().text {
		case "on":
			p.next()
			on = p.labelList()
		case "ignoring":
			p.next()
			ignoring = p.labelList()
		}
		if g := p.peek().text; g == "group_left" || g == "group_right" {
			p.next()
			if p.peek().text == "(" {
				on = union(on, p.labelList())
			}
		}
		next := prec + 1
		if t.text == "^" {
			next = prec // right-associative
		}
		right := p.expr(next)
		res := value{used: union(left.used, right.used)}
		switch {
		case left.scalar && right.scalar:
			res.scalar = true
		case left.scalar:
			res.labels = right.labels
		case right.scalar:
			res.labels = left.labels
		default:
			for _, l := range union(on, ignoring) {
				if (!left.labels[l] || !right.labels[l]) && p.known(union(left.used, right.used)) {
					p.failf("label %q of on/ignoring is not on both sides of %q", l, t.text)
				}
			}
			res.labels = map[string]bool{}
			for l := range left.labels {
				if right.labels[l] || t.text == "and" || t.text == "unless" {
					res.labels[l] = true
				}
			}
			if on != nil {
				res.labels = map[string]bool{}
				for _, l := range on {
					res.labels[l] = true
				}
			}
		}
		left = res
	}
}

func (p *promParser) unary() value {
	if t := p.peek(); t.kind == 'o' && (t.text == "-" || t.text == "+") {
		p.next()
	}
	return p.primary()
}

func (p *promParser) primary() value {
	t := p.next()
	switch {
	case t.kind == 'n' || t.kind == 's':
		return value{scalar: true}
	case t.kind == 'o' && t.text == "(":
		v := p.expr(1)
		p.expect(")")
		v.sel = nil
		return v
	case t.kind == 'i' && aggregators[t.text]:
		return p.aggregation(t.text)
	case t.kind == 'i' && p.peek().text == "(":
		return p.call(t.text)
	case t.kind == 'i':
		return p.selector(t.text)
	}
	panic(fmt.Sprintf("unexpected %q", t.text))
}

func (p *promParser) aggregation(op string) value {
	var by, without []string
	grouping := func() {
		switch p.peek().text {
		case "by":
			p.next()
			by = p.labelList()
		case "without":
			p.next()
			without = p.labelList()
		}
	}
	grouping()
	p.expect("(")
	arg := p.expr(1)
	if op == "topk" || op == "bottomk" || op == "quantile" {
		if !arg.scalar {
			p.failf("%s: the first argument must be a number", op)
		}
		p.expect(",")
		arg = p.expr(1)
	}
	p.expect(")")
	if by == nil && without == nil {
		grouping()
	}
	p.consume(arg, op)
	if arg.scalar {
		p.failf("%s over a scalar", op)
	}
	res := value{labels: map[string]bool{}, used: arg.used}
	for _, l := range union(by, without) {
		if !arg.labels[l] && p.known(arg.used) {
			p.failf("%s by/without %q: no such label on %s", op, l, strings.Join(arg.used, ", "))
		}
	}
	switch {
	case by != nil:
		for _, l := range by {
			res.labels[l] = true
		}
	case without != nil:
		for l := range arg.labels {
			res.labels[l] = true
		}
		for _, l := range without {
			delete(res.labels, l)
		}
	case op == "topk" || op == "bottomk":
		res.labels = arg.labels
	}
	return res
}

// consume records which function reads a bare selector.
func (p *promParser) consume(v value, fn string) {
	if v.sel != nil {
		v.sel.inCall = fn
	}
}

func (p *promParser) call(fn string) value {
	p.expect("(")
	var args []value
	for p.peek().text != ")" {
		args = append(args, p.expr(1))
		if p.peek().text == "," {
			p.next()
		}
	}
	p.expect(")")
	var used []string
	for _, a := range args {
		used = union(used, a.used)
		p.consume(a, fn)
	}
	vec := func(i int) value {
		if i >= len(args) || args[i].scalar {
			panic(fmt.Sprintf("%s: argument %d must be a vector", fn, i+1))
		}
		return args[i]
	}
	switch {
	case fn == "time" && len(args) == 0:
		return value{scalar: true}
	case fn == "vector" && len(args) == 1 && args[0].scalar:
		return value{labels: map[string]bool{}}
	case fn == "scalar" && len(args) == 1:
		vec(0)
		return value{scalar: true, used: used}
	case rangeFuncs[fn] && len(args) == 1:
		a := vec(0)
		if a.sel == nil || a.sel.rng == "" {
			p.failf("%s needs a range selector", fn)
		}
		return value{labels: a.labels, used: used}
	case fn == "histogram_quantile" && len(args) == 2:
		a := vec(1)
		if !args[0].scalar {
			p.failf("histogram_quantile: the first argument must be a number")
		}
		if !a.labels["le"] && p.known(a.used) {
			p.failf("histogram_quantile over %s, which has no le label (sum by (le, …) of a _bucket rate)", strings.Join(a.used, ", "))
		}
		res := value{labels: map[string]bool{}, used: used}
		for l := range a.labels {
			if l != "le" {
				res.labels[l] = true
			}
		}
		return res
	case samePosFuncs[fn] && len(args) >= 1:
		return value{labels: vec(0).labels, used: used}
	}
	panic(fmt.Sprintf("function %s/%d is not known to this check: add it to dashboard_test.go", fn, len(args)))
}

func (p *promParser) selector(name string) value {
	f, labels, err := series(p.fams, name)
	if err != nil {
		p.failf("%v", err)
		p.unknown[name] = true
		labels = map[string]bool{}
	}
	sel := &selection{name: name, fam: f, suffixed: f != nil && p.fams[name] == nil}
	if p.peek().text == "{" {
		p.next()
		for p.peek().text != "}" {
			l := p.next()
			op := p.next()
			v := p.next()
			if l.kind != 'i' || op.kind != 'o' || v.kind != 's' {
				panic(fmt.Sprintf("bad matcher in %s{…}: %s %s %s", name, l.text, op.text, v.text))
			}
			if f != nil {
				p.matcher(name, f, labels, l.text, op.text, v.text)
			}
			if p.peek().text == "," {
				p.next()
			}
		}
		p.expect("}")
	}
	if p.peek().kind == 'r' {
		sel.rng = p.next().text
		if sel.rng != "$__rate_interval" && sel.rng != "$__range" {
			p.failf("%s[%s]: use [$__rate_interval] (or [$__range] for a figure over the whole time range)", name, sel.rng)
		}
	}
	if p.peek().text == "offset" {
		panic("offset is not known to this check")
	}
	p.sels = append(p.sels, sel)
	return value{labels: labels, sel: sel, used: []string{name}}
}

// matcher checks a label matcher: the label exists on the metric and, for
// = and simple =~ alternatives, the hub produces that value.
func (p *promParser) matcher(name string, f *family, labels map[string]bool, label, op, val string) {
	if !labels[label] {
		p.failf("%s has no label %q", name, label)
		return
	}
	if targetLabels[label] || strings.Contains(val, "$") {
		return
	}
	var want []string
	switch {
	case op == "=":
		want = []string{val}
	case op == "=~" && simpleAltExpr.MatchString(val):
		want = strings.Split(val, "|")
	}
	for _, w := range want {
		if label == "le" || label == "quantile" {
			continue
		}
		if !f.labels[label][w] {
			p.failf("%s{%s%s%q}: the hub never sets %s=%q", name, label, op, val, label, w)
		}
	}
}

// checkExpr parses a query, checks it against the exported families and
// returns the labels of its result and the metric names it reads.
func checkExpr(fams map[string]*family, expr string) (res value, errs []string) {
	toks, err := lex(expr)
	if err != nil {
		return value{}, []string{err.Error()}
	}
	p := &promParser{toks: toks, fams: fams, unknown: map[string]bool{}}
	defer func() {
		if r := recover(); r != nil {
			errs = append(p.errs, fmt.Sprintf("cannot check %q: %v", expr, r))
		}
	}()
	res = p.expr(1)
	if p.peek().kind != 0 {
		panic(fmt.Sprintf("unexpected %q after the expression", p.peek().text))
	}
	for _, s := range p.sels {
		if s.fam == nil {
			continue
		}
		counter := s.fam.typ == dto.MetricType_COUNTER || s.suffixed
		switch {
		case counter && !counterFuncs[s.inCall]:
			p.failf("%s is a counter: read it with rate() or increase() over [$__rate_interval]", s.name)
		case !counter && counterFuncs[s.inCall]:
			p.failf("%s is a gauge: %s() does not apply", s.name, s.inCall)
		case s.rng != "" && !rangeFuncs[s.inCall]:
			p.failf("%s[%s] outside a range function", s.name, s.rng)
		}
	}
	return res, p.errs
}

// panelInfo is what the test reads of a panel.
type panelInfo struct {
	ID          int                      `json:"id"`
	Type        string                   `json:"type"`
	Title       string                   `json:"title"`
	Description string                   `json:"description"`
	Collapsed   bool                     `json:"collapsed"`
	GridPos     struct{ X, Y, W, H int } `json:"gridPos"`
	Datasource  json.RawMessage          `json:"datasource"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr         string          `json:"expr"`
		LegendFormat string          `json:"legendFormat"`
		Datasource   json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panelInfo `json:"panels"`
}

type dashboardInfo struct {
	Title         string      `json:"title"`
	UID           string      `json:"uid"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []panelInfo `json:"panels"`
	Inputs        []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      json.RawMessage
			Definition string
			Multi      bool
			IncludeAll bool
			Datasource json.RawMessage
		} `json:"list"`
	} `json:"templating"`
}

// grafanaUnits are the Grafana unit ids the dashboard may use (a typo shows
// raw numbers); "suffix:…" is Grafana's custom unit.
var grafanaUnits = map[string]bool{"short": true, "none": true, "s": true, "ms": true, "cps": true, "cpm": true,
	"reqps": true, "pps": true, "percent": true, "percentunit": true, "bytes": true}

// okabeIto is the colour-blind-safe palette the dashboard's fixed colours come from.
var okabeIto = map[string]bool{"#E69F00": true, "#56B4E9": true, "#009E73": true, "#F0E442": true, "#0072B2": true,
	"#D55E00": true, "#CC79A7": true, "#000000": true}

// checkColours fails on a fixed or threshold colour outside Okabe-Ito and on
// the classic palette by series name.
func checkColours(t *testing.T, where string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			s, isStr := x.(string)
			switch {
			case isStr && (k == "fixedColor" || k == "color" || k == "fill" && strings.HasPrefix(s, "#")) && !okabeIto[strings.ToUpper(s)]:
				t.Errorf("%s: colour %s=%q is not one of the Okabe-Ito colours", where, k, s)
			case isStr && k == "mode" && s == "palette-classic-by-name":
				t.Errorf("%s: palette-classic-by-name: use explicit Okabe-Ito overrides", where)
			default:
				checkColours(t, where, x)
			}
		}
	case []any:
		for _, x := range v {
			checkColours(t, where, x)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardInfo
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed", d.Title, d.UID)
	}
	if d.SchemaVersion != 39 {
		t.Errorf("schemaVersion %d, want 39 (Grafana 10/11)", d.SchemaVersion)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs: want one DS_PROMETHEUS prometheus data source, got %+v", d.Inputs)
	}
	fams := exportedFamilies(t)

	// template variables: a datasource variable, and query variables over exported metrics
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			t.Errorf("variable %s: query %s, want \"prometheus\"", v.Name, v.Query)
		}
		if v.Type != "query" {
			continue
		}
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct{ Query string }
			_ = json.Unmarshal(v.Query, &obj)
			q = obj.Query
		}
		for _, s := range []string{q, v.Definition} {
			mt := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`).FindStringSubmatch(s)
			if mt == nil {
				t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, s)
				continue
			}
			if _, labels, err := series(fams, mt[1]); err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
			} else if !labels[mt[2]] {
				t.Errorf("variable %s: %s has no label %s", v.Name, mt[1], mt[2])
			}
		}
		if !v.Multi || !v.IncludeAll {
			t.Errorf("variable %s: want multi-value with All", v.Name)
		}
	}
	if vars["datasource"] != "datasource" || (vars["instance"] != "query" && vars["job"] != "query") {
		t.Errorf("template variables %v: want datasource (datasource) and instance or job (query)", vars)
	}

	// every panel, rows' panels included
	var all []panelInfo
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	if len(all) < 10 {
		t.Fatalf("%d panels: the dashboard looks empty", len(all))
	}
	ids := map[int]string{}
	uses := map[string][]string{} // metric → titles of panels reading it
	outLabels := map[string][]map[string]bool{}
	for i, p := range all {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: id must be > 0", where)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", where, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		for _, q := range all[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s: gridPos %+v overlaps panel %d %q %+v", where, g, q.ID, q.Title, h)
			}
		}
		if p.Title == "" {
			t.Errorf("%s: no title", where)
		}
		if p.Type == "row" {
			if len(p.Panels) > 0 && !p.Collapsed {
				t.Errorf("%s: an open row keeps its panels at the top level", where)
			}
			for _, c := range p.Panels {
				if c.GridPos.Y <= g.Y {
					t.Errorf("panel %d %q: placed above its row %q", c.ID, c.Title, p.Title)
				}
			}
			continue
		}
		if u := p.FieldConfig.Defaults.Unit; p.Description == "" || !grafanaUnits[u] && !strings.HasPrefix(u, "suffix:") {
			t.Errorf("%s: a description and a Grafana unit are needed (unit %q)", where, u)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, ds := range append([]json.RawMessage{p.Datasource}, func() (r []json.RawMessage) {
			for _, tg := range p.Targets {
				r = append(r, tg.Datasource)
			}
			return
		}()...) {
			if !strings.Contains(string(ds), `"${datasource}"`) {
				t.Errorf("%s: data source %s, want the ${datasource} variable", where, ds)
			}
		}
		for _, tg := range p.Targets {
			res, errs := checkExpr(fams, tg.Expr)
			for _, e := range errs {
				t.Errorf("%s: %s\n\tin %s", where, e, tg.Expr)
			}
			for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(tg.LegendFormat, -1) {
				if len(errs) == 0 && !res.labels[m[1]] {
					t.Errorf("%s: legend %q names %s, which the query's result does not carry\n\tin %s", where, tg.LegendFormat, m[1], tg.Expr)
				}
			}
			for _, m := range res.used {
				uses[m] = append(uses[m], p.Title)
				outLabels[m] = append(outLabels[m], res.labels)
			}
		}
	}
	for _, p := range generic["panels"].([]any) {
		checkColours(t, fmt.Sprintf("panel %q", p.(map[string]any)["title"]), p)
	}

	// the list: calls, set-up time, media loss and jitter per side, a queue figure, errors
	covers := []struct {
		what    string
		metrics []string
		label   string
	}{
		{"calls", []string{"split_calls_active", "split_calls_started_total", "split_calls_ended_total"}, ""},
		{"call set-up time", []string{"split_call_setup_seconds_bucket"}, ""},
		{"media loss per side", []string{"split_rtp_lost_packets_total"}, "side"},
		{"media jitter per side", []string{"split_rtp_jitter_seconds_bucket"}, "side"},
		{"a queue figure", []string{"split_queue_wait_seconds_bucket", "split_queue_wait_seconds_count"}, ""},
		{"errors", []string{"split_sip_invites_rejected_total", "split_sip_refused_total"}, ""},
	}
	for _, c := range covers {
		ok := false
		for _, m := range c.metrics {
			for _, ls := range outLabels[m] {
				ok = ok || c.label == "" || ls[c.label]
			}
		}
		if !ok {
			t.Errorf("no panel shows %s (%s%s)", c.what, strings.Join(c.metrics, " or "), map[bool]string{true: " by " + c.label}[c.label != ""])
		}
	}
	var names, unused []string
	for m := range uses {
		names = append(names, m)
	}
	for m := range fams {
		shown := false
		for _, suf := range []string{"", "_bucket", "_sum", "_count"} {
			shown = shown || uses[m+suf] != nil
		}
		if strings.HasPrefix(m, "split_") && !shown {
			unused = append(unused, m)
		}
	}
	sort.Strings(names)
	sort.Strings(unused)
	t.Logf("%d panels, %d metrics checked: %s", len(all), len(names), strings.Join(names, " "))
	t.Logf("split_* metrics on no panel: %v", unused)
}

// TestDashboardCheckCatches makes sure the query check fails on the mistakes
// it is there for.
func TestDashboardCheckCatches(t *testing.T) {
	fams := exportedFamilies(t)
	ok := []string{
		`sum by (le, side) (rate(split_rtp_jitter_seconds_bucket{instance=~"$instance"}[$__rate_interval]))`,
		`histogram_quantile(0.95, sum by (le) (rate(split_call_setup_seconds_bucket[$__rate_interval])))`,
		`sum(split_sessions{state="waiting"})`,
		`rate(process_cpu_seconds_total[$__rate_interval])`,
		`min by (hostname) (split_tls_certificate_expiry_timestamp_seconds > 0) - time()`,
		`sum by (queue) (increase(split_call_records_total{service_level="met"}[$__range])) / sum by (queue) (increase(split_call_records_total{service_level=~"met|missed"}[$__range]))`,
	}
	for _, e := range ok {
		if _, errs := checkExpr(fams, e); len(errs) > 0 {
			t.Errorf("%s: %v", e, errs)
		}
	}
	bad := map[string]string{
		`split_calls_activ`: "not exported",
		`rate(split_sip_rejected_total[$__rate_interval])`:                                                 "not exported",
		`sum by (reason) (rate(split_calls_started_total[$__rate_interval]))`:                              `by/without "reason": no such label`,
		`split_calls_ended_total{outcome="failed"}`:                                                        `no label "outcome"`,
		`sum(rate(split_calls_ended_total{result="error"}[$__rate_interval]))`:                             `never sets result="error"`,
		`sum(split_calls_started_total)`:                                                                   "is a counter",
		`rate(split_calls_active[$__rate_interval])`:                                                       "is a gauge",
		`rate(split_call_setup_seconds[$__rate_interval])`:                                                 "is a histogram",
		`split_calls_active_bucket`:                                                                        "has no _bucket",
		`histogram_quantile(0.5, sum by (side) (rate(split_rtp_jitter_seconds_bucket[$__rate_interval])))`: "no le label",
		`rate(split_calls_started_total[5m])`:                                                              "$__rate_interval",
		`label_replace(split_calls_active, "a", "b", "c", "d")`:                                            "not known to this check",
	}
	for e, want := range bad {
		_, errs := checkExpr(fams, e)
		if !strings.Contains(strings.Join(errs, "; "), want) {
			t.Errorf("%s: want an error with %q, got %v", e, want, errs)
		}
	}
}
