// Command copilot is an example Copilot AI service for SPLIT (docs/copilot.md):
// it speaks SPLIT's own wire format (WebSocket subprotocol split.copilot.v1),
// transcribes each participant with a local speech engine — Debian's
// pocketsphinx and its US English model (apt install pocketsphinx
// pocketsphinx-en-us), no download at run time — and turns configured phrases
// into hints and alerts in the agent's console.
//
//	go run ./examples/copilot -listen 127.0.0.1:9470 -phrases examples/copilot/phrases.yaml
//
// and in SPLIT's configuration:
//
//	copilot:
//	  services:
//	    - name: example
//	      url: ws://127.0.0.1:9470/split
//	      participants: [customer, agent]
//	sessions:
//	  routes:
//	    - name: default
//	      target: queue:default
//	      copilot: [example]
//
// Each transcribed participant gets two recognisers: one with pocketsphinx's
// general language model (the transcript) and one with a grammar built from
// the phrases (phrase spotting: a general model of this size mishears short
// phrases too often to trigger on them).
package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.yaml.in/yaml/v3"
)

// Phrase is one configured phrase and what hearing it sends.
type Phrase struct {
	Say    string `yaml:"say"`
	Hint   string `yaml:"hint"`
	Title  string `yaml:"title"`
	URL    string `yaml:"url"`
	Alert  string `yaml:"alert"` // info, warning or critical: an alert instead of a hint
	Reason string `yaml:"reason"`
}

type server struct {
	log     *slog.Logger
	token   string
	secret  string
	roles   map[string]bool
	engine  string
	model   string
	grammar string // the JSGF file
	phrases []Phrase
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9470", "address to serve ws://…/split on")
	phrasesFile := flag.String("phrases", "examples/copilot/phrases.yaml", "phrases to spot (YAML)")
	roles := flag.String("roles", "customer,agent", "participant roles to transcribe")
	engine := flag.String("engine", "pocketsphinx_continuous", "the pocketsphinx command")
	model := flag.String("model", "/usr/share/pocketsphinx/model/en-us", "the pocketsphinx model directory")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := &server{log: log, token: os.Getenv("COPILOT_TOKEN"), secret: os.Getenv("COPILOT_SECRET"), roles: map[string]bool{},
		engine: *engine, model: *model}
	for _, r := range strings.Split(*roles, ",") {
		s.roles[strings.TrimSpace(r)] = true
	}
	if err := s.load(*phrasesFile); err != nil {
		log.Error("phrases", "err", err)
		os.Exit(2)
	}
	if _, err := exec.LookPath(s.engine); err != nil {
		log.Error("the speech engine is not installed: apt install pocketsphinx pocketsphinx-en-us", "engine", s.engine)
		os.Exit(2)
	}
	log.Info("example Copilot AI listening", "url", "ws://"+*listen+"/split", "phrases", len(s.phrases))
	srv := &http.Server{Addr: *listen, Handler: httpHandler(s), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
}

// load reads the phrases and writes the phrase-spotting grammar: any of the
// phrases, with common words around it, or common words alone.
func (s *server) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var f struct {
		Phrases []Phrase `yaml:"phrases"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Phrases) == 0 {
		return fmt.Errorf("%s: no phrases", path)
	}
	var alts []string
	for i, p := range f.Phrases {
		p.Say = strings.ToLower(strings.TrimSpace(p.Say))
		if p.Say == "" || strings.ContainsAny(p.Say, "<>|;()[]*+=\"") {
			return fmt.Errorf("%s: phrase %d: say %q", path, i+1, p.Say)
		}
		f.Phrases[i] = p
		alts = append(alts, p.Say)
	}
	s.phrases = f.Phrases
	dir, err := os.MkdirTemp("", "copilot-example")
	if err != nil {
		return err
	}
	s.grammar = filepath.Join(dir, "phrases.gram")
	g := "#JSGF V1.0;\ngrammar phrases;\npublic <utt> = [<w>+] (" + strings.Join(alts, " | ") + ") [<w>+] | <w>+;\n<w> = " +
		strings.Join(fillers, " | ") + ";\n"
	return os.WriteFile(s.grammar, []byte(g), 0o600)
}

func httpHandler(s *server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/split", s.serve)
	return mux
}

// fillers are common words the grammar allows around a phrase. Few on
// purpose: each one competes with the phrases' words, and with a long list
// pocketsphinx hears fillers where a phrase was said (measured with flite's
// voice: 35 words spot "cancel my contract", 120 do not).
var fillers = strings.Fields(`i want to my please the a is it hello would like for order weather nice today you and of
what yes no thank can help me have an this that with do not`)

// authorized checks the hub's headers (docs/copilot.md §3): the bearer
// token, and X-Split-Signature "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<session>")>".
func (s *server) authorized(r *http.Request) error {
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		return errors.New("bad bearer token")
	}
	if s.secret == "" {
		return nil
	}
	var ts, sig string
	for _, kv := range strings.Split(r.Header.Get("X-Split-Signature"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return errors.New("signature time missing or off by more than 5 minutes")
	}
	m := hmac.New(sha256.New, []byte(s.secret))
	m.Write([]byte(ts + "." + r.Header.Get("X-Split-Session")))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return errors.New("bad signature")
	}
	return nil
}

// call is one session's socket.
type call struct {
	s    *server
	ws   *websocket.Conn
	ctx  context.Context
	log  *slog.Logger
	rate int

	mu     sync.Mutex
	who    map[string]participant // p1… → role, name
	recs   map[string]*recogniser
	spoken map[string]time.Time // participant|phrase → last sent (no repeats within 10 s)
}

type participant struct{ role, name string }

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if err := s.authorized(r); err != nil {
		s.log.Warn("refused", "err", err, "from", r.RemoteAddr)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"split.copilot.v1"}})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	c := &call{s: s, ws: ws, ctx: r.Context(), log: s.log.With("session", r.Header.Get("X-Split-Session")), rate: 16000,
		who: map[string]participant{}, recs: map[string]*recogniser{}, spoken: map[string]time.Time{}}
	defer c.stopAll()
	ws.SetReadLimit(1 << 16)
	for {
		typ, b, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			c.audio(b)
			continue
		}
		var m struct {
			Type  string `json:"type"`
			Rate  int    `json:"rate"`
			ID    string `json:"id"`
			Role  string `json:"role"`
			Name  string `json:"name"`
			State string `json:"state"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "hello":
			c.rate = m.Rate
			c.log.Info("session attached", "rate", m.Rate)
		case "participant":
			c.participant(m.ID, m.Role, m.Name, m.State)
		case "bye":
			c.log.Info("session over")
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return
		case "error":
			c.log.Warn("the hub refused a message", "frame", string(b))
		}
	}
}

func (c *call) participant(id, role, name, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if state == "joined" {
		c.who[id] = participant{role, name}
	}
	switch {
	case state == "joined" && c.s.roles[role] && c.recs[id] == nil:
		r, err := c.startRecogniser(id)
		if err != nil {
			c.log.Warn("cannot start the recogniser", "participant", id, "err", err)
			return
		}
		c.recs[id] = r
	case state == "left" && c.recs[id] != nil:
		c.recs[id].stop()
		delete(c.recs, id)
	}
}

// audio takes one §3.2 frame and feeds its participant's recognisers.
func (c *call) audio(b []byte) {
	if len(b) < 16 || b[0] != 1 {
		return
	}
	id := "p" + strconv.Itoa(int(b[1]))
	c.mu.Lock()
	r := c.recs[id]
	c.mu.Unlock()
	if r == nil {
		return
	}
	pcm := b[16:]
	if c.rate == 8000 { // the model is 16 kHz: double each sample
		up := make([]byte, 0, 2*len(pcm))
		for i := 0; i+1 < len(pcm); i += 2 {
			up = append(up, pcm[i], pcm[i+1], pcm[i], pcm[i+1])
		}
		pcm = up
	}
	r.feed(pcm)
}

func (c *call) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, r := range c.recs {
		r.stop()
		delete(c.recs, id)
	}
}

func (c *call) send(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.log.Warn("send", "err", err)
	}
}

// recogniser is one participant's pair of pocketsphinx processes.
type recogniser struct {
	in   chan []byte
	cmds []*exec.Cmd
	wg   sync.WaitGroup
	once sync.Once
}

func (c *call) startRecogniser(id string) (*recogniser, error) {
	s := c.s
	r := &recogniser{in: make(chan []byte, 250)} // 5 s of frames; a slow engine loses audio, never the call
	common := []string{"-infile", "/dev/stdin", "-hmm", filepath.Join(s.model, "en-us"), "-dict", filepath.Join(s.model, "cmudict-en-us.dict"),
		"-samprate", "16000", "-logfn", "/dev/null"}
	var stdins []io.WriteCloser
	for _, mode := range []string{"transcript", "phrases"} {
		args := append([]string{}, common...)
		if mode == "transcript" {
			args = append(args, "-lm", filepath.Join(s.model, "en-us.lm.bin"))
		} else {
			args = append(args, "-jsgf", s.grammar)
		}
		cmd := exec.Command(s.engine, args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		r.cmds = append(r.cmds, cmd)
		stdins = append(stdins, stdin)
		mode := mode
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if line := strings.TrimSpace(sc.Text()); line != "" {
					c.heard(id, mode, line)
				}
			}
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			for _, w := range stdins {
				w.Close()
			}
		}()
		for b := range r.in {
			for _, w := range stdins {
				if _, err := w.Write(b); err != nil {
					return
				}
			}
		}
	}()
	return r, nil
}

func (r *recogniser) feed(pcm []byte) {
	select {
	case r.in <- pcm:
	default: // the engine is behind: drop this frame
	}
}

func (r *recogniser) stop() {
	r.once.Do(func() {
		close(r.in)
		go func() { // the engines finish their last utterance, then exit on EOF
			r.wg.Wait()
			for _, cmd := range r.cmds {
				_ = cmd.Wait()
			}
		}()
	})
}

// heard handles one recognised utterance: a transcript line, or a phrase
// spotted.
func (c *call) heard(id, mode, line string) {
	if mode == "transcript" {
		c.send(map[string]any{"type": "transcript", "participant": id, "text": line, "final": true})
		return
	}
	for _, p := range c.s.phrases {
		if !strings.Contains(" "+line+" ", " "+p.Say+" ") {
			continue
		}
		key := id + "|" + p.Say
		c.mu.Lock()
		recent := time.Since(c.spoken[key]) < 10*time.Second
		if !recent {
			c.spoken[key] = time.Now()
		}
		c.mu.Unlock()
		if recent {
			continue
		}
		c.log.Info("phrase heard", "participant", id, "phrase", p.Say)
		if p.Alert != "" {
			c.send(map[string]any{"type": "alert", "severity": p.Alert, "reason": p.Reason, "id": "phrase:" + p.Say})
			continue
		}
		c.send(map[string]any{"type": "hint", "text": p.Hint, "title": p.Title, "url": p.URL, "id": "phrase:" + p.Say})
	}
}
