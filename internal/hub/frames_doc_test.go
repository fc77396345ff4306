package hub

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/split-hub/split/internal/framedoc"
	"github.com/split-hub/split/internal/session"
)

// frameStructs are the Go types of the frames this package sends, by
// struct name. A frame struct the code builds and this map lacks fails
// TestSessionsDocMatchesCode: add it here (and to docs/sessions.md).
var frameStructs = map[string]reflect.Type{
	"helloMsg":          reflect.TypeOf(helloMsg{}),
	"answerMsg":         reflect.TypeOf(answerMsg{}),
	"offerMsg":          reflect.TypeOf(offerMsg{}),
	"cancelMsg":         reflect.TypeOf(cancelMsg{}),
	"sessionMsg":        reflect.TypeOf(sessionMsg{}),
	"agentMsg":          reflect.TypeOf(agentMsg{}),
	"endedMsg":          reflect.TypeOf(endedMsg{}),
	"invitedMsg":        reflect.TypeOf(invitedMsg{}),
	"deliveryMsg":       reflect.TypeOf(deliveryMsg{}),
	"audioMovedMsg":     reflect.TypeOf(audioMovedMsg{}),
	"restartedMsg":      reflect.TypeOf(restartedMsg{}),
	"errorMsg":          reflect.TypeOf(errorMsg{}),
	"pongMsg":           reflect.TypeOf(pongMsg{}),
	"rttBacklogMsg":     reflect.TypeOf(rttBacklogMsg{}),
	"incomingMsg":       reflect.TypeOf(incomingMsg{}),
	"copilotMsg":        reflect.TypeOf(copilotMsg{}),
	"remoteOfferMsg":    reflect.TypeOf(remoteOfferMsg{}),
	"remoteIncomingMsg": reflect.TypeOf(remoteIncomingMsg{}),
}

var allRoles = []string{roleAgent, roleCustomer, roleViewer}

// TestSessionsDocMatchesCode keeps docs/sessions.md — what a client is
// written from — in step with the frames this package sends and reads:
//
//   - the rows of the "Server → client" table are exactly the frame types
//     the code sends, and each row's fields exactly its struct's JSON
//     fields (and, where the row gives `{…}`, the fields of the object the
//     field holds);
//   - the rows of the "Client → server" table are exactly the types
//     conn.handle dispatches, its "who" column exactly the roles each type
//     is accepted from, and the fields named in it exactly inFrame's;
//   - every JSON example in the document uses only fields its frame has;
//   - the error codes are exactly the rows of "Errors", and every session
//     state is named in "Session states".
//
// It checks the document against the code, not the code's behaviour:
// test/e2e TestDocsOnlyClient runs a client written from the document.
func TestSessionsDocMatchesCode(t *testing.T) {
	doc, err := framedoc.Read("../../docs/sessions.md")
	if err != nil {
		t.Fatal(err)
	}

	// Server → client.
	sent, err := framedoc.SentFrames(".")
	if err != nil {
		t.Fatal(err)
	}
	outFields := map[string]framedoc.Fields{}
	for typ, structs := range sent {
		for _, name := range structs {
			rt, ok := frameStructs[name]
			if !ok {
				t.Errorf("frame %q is built as %s, which frameStructs does not list", typ, name)
				continue
			}
			outFields[typ] = framedoc.FieldsOf(rt)
		}
	}
	docOut := map[string]framedoc.Fields{}
	for _, row := range tableOf(t, doc, "## Server → client", 3) {
		typ := cellType(t, row[0])
		f, err := framedoc.FieldList(row[1])
		if err != nil {
			t.Errorf("Server → client, %s: %v", typ, err)
		}
		docOut[typ] = f
	}
	for typ, f := range outFields {
		df, ok := docOut[typ]
		if !ok {
			t.Errorf("the code sends %q frames; the \"Server → client\" table of docs/sessions.md has no row for it", typ)
			continue
		}
		if d := framedoc.Diff("server frame "+typ, f, df); d != "" {
			t.Error(d)
		}
	}
	for typ := range docOut {
		if _, ok := outFields[typ]; !ok {
			t.Errorf("docs/sessions.md documents a %q frame from the server; the code sends none", typ)
		}
	}

	// Client → server: conn.handle dispatches on "<role>/<type>" (ping is
	// answered before, for every role).
	cases, err := framedoc.CaseStrings(".", "conn.handle")
	if err != nil {
		t.Fatal(err)
	}
	ivCases, err := framedoc.CaseStrings(".", "Hub.ivFrame") // the Deaf Interpreter mode's frames, dispatched first
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, ivCases...)
	codeRoles := map[string][]string{"ping": allRoles}
	for _, c := range cases {
		if role, typ, ok := strings.Cut(c, "/"); ok {
			codeRoles[typ] = append(codeRoles[typ], role)
		}
	}
	inFields := framedoc.FieldsOf(reflect.TypeOf(inFrame{}))
	union := framedoc.Fields{}
	docIn := map[string]bool{}
	for _, row := range tableOf(t, doc, "## Client → server", 4) {
		typ := cellType(t, row[0])
		docIn[typ] = true
		roles, ok := codeRoles[typ]
		if !ok {
			t.Errorf("docs/sessions.md documents a %q frame from clients; conn.handle reads none", typ)
			continue
		}
		if d := framedoc.SetDiff("who may send "+typ+" (conn.handle vs the who column)", sorted(roles), whoColumn(row[1])); d != "" {
			t.Error(d)
		}
		f, err := framedoc.FieldList(row[2])
		if err != nil {
			t.Errorf("Client → server, %s: %v", typ, err)
		}
		for k, v := range f {
			union[k] = v
		}
	}
	for typ := range codeRoles {
		if !docIn[typ] {
			t.Errorf("conn.handle reads %q frames; the \"Client → server\" table of docs/sessions.md has no row for it", typ)
		}
	}
	if d := framedoc.Diff("client frames (inFrame vs the table's fields)", inFields, union); d != "" {
		t.Error(d)
	}

	// Every JSON example names a frame and uses only its fields.
	objs, err := framedoc.JSONObjects(doc.Text)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		typ, _ := o["type"].(string)
		switch {
		case outFields[typ] != nil:
			if d := framedoc.Subset("example of server frame "+typ, outFields[typ], framedoc.Keys(o)); d != "" {
				t.Error(d)
			}
		case codeRoles[typ] != nil:
			if d := framedoc.Subset("example of client frame "+typ, inFields, framedoc.Keys(o)); d != "" {
				t.Error(d)
			}
		default:
			t.Errorf("docs/sessions.md has a JSON example of type %q, which is no frame", typ)
		}
	}

	// Error codes.
	var codes []string
	for _, e := range clientErrors {
		if c := errCode(e); !contains(codes, c) {
			codes = append(codes, c)
		}
	}
	var docCodes []string
	for _, row := range tableOf(t, doc, "### Errors", 2) {
		docCodes = append(docCodes, cellType(t, row[0]))
	}
	if d := framedoc.SetDiff("error codes (errCode vs \"Errors\")", sorted(codes), sorted(docCodes)); d != "" {
		t.Error(d)
	}

	// Session states.
	states := doc.Section("## Session states")
	for _, s := range []session.State{session.StateCreated, session.StateRouting, session.StateWaiting,
		session.StateRinging, session.StateActive, session.StateEnded} {
		if !strings.Contains(states, string(s)) {
			t.Errorf("\"Session states\" does not name the state %q", s)
		}
	}
}

// tableOf is the first table under heading, whose rows have cols cells.
func tableOf(t *testing.T, doc framedoc.Doc, heading string, cols int) [][]string {
	t.Helper()
	rows := framedoc.TableRows(doc.Section(heading))
	if len(rows) == 0 {
		t.Fatalf("docs/sessions.md: no table under %q", heading)
	}
	for _, r := range rows {
		if len(r) != cols {
			t.Fatalf("docs/sessions.md, %q: a row of %d cells, want %d: %q", heading, len(r), cols, r)
		}
	}
	return rows
}

func cellType(t *testing.T, cell string) string {
	t.Helper()
	b := framedoc.Backticked(cell)
	if len(b) != 1 {
		t.Fatalf("docs/sessions.md: a table's first cell must be one `name`: %q", cell)
	}
	return b[0]
}

// whoColumn reads "agent, customer" or "all".
func whoColumn(cell string) []string {
	if strings.TrimSpace(cell) == "all" {
		return sorted(allRoles)
	}
	var out []string
	for _, r := range strings.Split(cell, ",") {
		out = append(out, strings.TrimSpace(r))
	}
	return sorted(out)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
