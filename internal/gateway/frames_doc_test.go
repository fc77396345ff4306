package gateway

import (
	"reflect"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/framedoc"
	"github.com/split-hub/split/internal/sipua"
)

// frameStructs are the Go types of the frames this package sends, by
// struct name. A frame struct the code builds and this map lacks fails
// TestSignallingDocMatchesCode: add it here (and to docs/signalling.md).
var frameStructs = map[string]reflect.Type{
	"helloMsg":    reflect.TypeOf(helloMsg{}),
	"sdpMsg":      reflect.TypeOf(sdpMsg{}),
	"incomingMsg": reflect.TypeOf(incomingMsg{}),
	"stateMsg":    reflect.TypeOf(stateMsg{}),
	"dtmfMsg":     reflect.TypeOf(dtmfMsg{}),
	"statsMsg":    reflect.TypeOf(statsMsg{}),
	"errorMsg":    reflect.TypeOf(errorMsg{}),
	"pongMsg":     reflect.TypeOf(pongMsg{}),
}

// TestSignallingDocMatchesCode keeps docs/signalling.md — what a client is
// written from — in step with the frames this package sends and reads:
//
//   - every frame type the code sends has a "### `type`" section under
//     "Server → client messages", and every such section is a frame the code
//     sends; the keys of the section's JSON examples are exactly the fields
//     of the frame's struct (one level of nesting too: `ice_servers`,
//     `sip_rtp`);
//   - the types parseMessage reads are exactly the sections under
//     "Client → server messages", and the keys their examples use are
//     exactly the fields of inMsg;
//   - the error codes the code sends are exactly the rows of the `error`
//     section's table, and the call states exactly the rows of "Call
//     states".
//
// It checks the document against the code only, not the code's behaviour:
// test/e2e TestDocsOnlyClient runs a client written from the document.
func TestSignallingDocMatchesCode(t *testing.T) {
	doc, err := framedoc.Read("../../docs/signalling.md")
	if err != nil {
		t.Fatal(err)
	}

	// Server → client.
	sent, err := framedoc.SentFrames(".")
	if err != nil {
		t.Fatal(err)
	}
	docOut := docFrames(t, doc, "## Server → client messages")
	for typ, structs := range sent {
		for _, name := range structs {
			rt, ok := frameStructs[name]
			if !ok {
				t.Errorf("frame %q is built as %s, which frameStructs does not list", typ, name)
				continue
			}
			keys, ok := docOut[typ]
			if !ok {
				t.Errorf("the code sends %q frames; docs/signalling.md has no \"### `%s`\" section with an example under \"Server → client messages\"", typ, typ)
				continue
			}
			if d := framedoc.Diff("server frame "+typ, framedoc.FieldsOf(rt), keys); d != "" {
				t.Error(d)
			}
		}
	}
	for typ := range docOut {
		if _, ok := sent[typ]; !ok {
			t.Errorf("docs/signalling.md documents a %q frame from the server; the code sends none", typ)
		}
	}

	// Client → server.
	read, err := framedoc.CaseStrings(".", "parseMessage")
	if err != nil {
		t.Fatal(err)
	}
	read = without(read, "")
	docIn := docFrames(t, doc, "## Client → server messages")
	var docTypes []string
	union := framedoc.Fields{}
	for typ, keys := range docIn {
		docTypes = append(docTypes, typ)
		for k, v := range keys {
			union[k] = v
		}
	}
	if d := framedoc.SetDiff("client frame types (parseMessage vs docs)", read, docTypes); d != "" {
		t.Error(d)
	}
	if d := framedoc.Diff("client frames (inMsg vs the examples' keys)", framedoc.FieldsOf(reflect.TypeOf(inMsg{})), union); d != "" {
		t.Error(d)
	}

	// Error codes.
	codes, err := framedoc.CallStrings(".", 1, "sendError", "refuse")
	if err != nil {
		t.Fatal(err)
	}
	if d := framedoc.SetDiff("error codes (code vs the `error` section's table)", codes, firstColumn(doc.Section("### `error`"))); d != "" {
		t.Error(d)
	}

	// Call states.
	var states []string
	for s := sipua.StateTrying; s <= sipua.StateEnded; s++ {
		states = append(states, s.String())
	}
	if d := framedoc.SetDiff("call states (sipua vs \"Call states\")", states, firstColumn(doc.Section("## Call states"))); d != "" {
		t.Error(d)
	}
}

// docFrames reads a section's "### `type`" subsections: type → the keys its
// JSON examples use.
func docFrames(t *testing.T, doc framedoc.Doc, heading string) map[string]framedoc.Fields {
	t.Helper()
	sec := doc.Section(heading)
	if sec == "" {
		t.Fatalf("docs/signalling.md has no %q", heading)
	}
	out := map[string]framedoc.Fields{}
	for _, sub := range framedoc.Subsections(sec, 3) {
		types := framedoc.Backticked(sub.Title)
		objs, err := framedoc.JSONObjects(sub.Text)
		if err != nil {
			t.Fatalf("%s, %s: %v", heading, sub.Title, err)
		}
		for _, typ := range types {
			keys := framedoc.Fields{}
			for _, o := range objs {
				if o["type"] != typ {
					continue
				}
				for k, v := range framedoc.Keys(o) {
					keys[k] = merge(keys[k], v)
				}
			}
			if len(keys) == 0 {
				t.Errorf("%s, %s: no JSON example of %q", heading, sub.Title, typ)
			}
			out[typ] = keys
		}
	}
	return out
}

// firstColumn is the backticked first cells of the first table in text.
func firstColumn(text string) []string {
	var out []string
	for _, row := range framedoc.TableRows(text) {
		if b := framedoc.Backticked(row[0]); len(b) > 0 {
			out = append(out, b[0])
		}
	}
	return out
}

func merge(a, b []string) []string {
	for _, x := range b {
		if !strings.Contains(","+strings.Join(a, ",")+",", ","+x+",") {
			a = append(a, x)
		}
	}
	return a
}

func without(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
