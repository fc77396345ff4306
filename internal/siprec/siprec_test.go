package siprec

import (
	"bytes"
	"encoding/xml"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"time"
)

// The metadata is well-formed RFC 7865 XML naming the session, each
// participant, its stream and label, who sends and receives what; a partial
// update carries only what changed; the body is a multipart/mixed of the SDP
// (one sendonly stream per label) and the metadata.
func TestMetadataAndBody(t *testing.T) {
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	m := Meta{RecordingSession: "rs1", SplitSession: "0190-abc", Start: start,
		Participants: []Participant{
			{ID: "pa", AOR: "sip:ana@example.com", Name: "Ana <& Co>", Role: "customer", Stream: "s1", Joined: start},
			{ID: "pb", AOR: "sip:agent1@split", Name: "Bob", Role: "agent", Stream: "s2", Joined: start},
		},
		Streams: []Stream{{ID: "s1", Label: 1}, {ID: "s2", Label: 2}}}
	x := m.XML()
	var doc struct {
		XMLName  xml.Name `xml:"urn:ietf:params:xml:ns:recording:1 recording"`
		Datamode string   `xml:"datamode"`
		Session  struct {
			ID    string `xml:"session_id,attr"`
			Split string `xml:"urn:split:recording:1 session"`
		} `xml:"session"`
		Participants []struct {
			ID   string `xml:"participant_id,attr"`
			Name struct {
				AOR  string `xml:"aor,attr"`
				Name string `xml:"name"`
			} `xml:"nameID"`
		} `xml:"participant"`
		Streams []struct {
			ID    string `xml:"stream_id,attr"`
			Label int    `xml:"label"`
		} `xml:"stream"`
		Assoc []struct {
			ID   string   `xml:"participant_id,attr"`
			Send []string `xml:"send"`
			Recv []string `xml:"recv"`
		} `xml:"participantstreamassoc"`
	}
	if err := xml.Unmarshal(x, &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, x)
	}
	if doc.Datamode != "complete" || doc.Session.ID != "rs1" || doc.Session.Split != "0190-abc" || len(doc.Participants) != 2 ||
		doc.Participants[0].Name.Name != "Ana <& Co>" || doc.Participants[0].Name.AOR != "sip:ana@example.com" || len(doc.Streams) != 2 ||
		doc.Streams[1].Label != 2 || len(doc.Assoc) != 2 || doc.Assoc[0].Send[0] != "s1" || doc.Assoc[0].Recv[0] != "s2" {
		t.Fatalf("metadata: %+v\n%s", doc, x)
	}
	// a transfer: Bob leaves, Carol joins; the partial update names both
	m.Participants[1].Left, m.Participants[1].Changed = start.Add(time.Minute), true
	m.Participants = append(m.Participants, Participant{ID: "pc", AOR: "sip:agent2@split", Name: "Carol", Role: "agent", Stream: "s3", Joined: start.Add(time.Minute), Changed: true})
	m.Streams = append(m.Streams, Stream{ID: "s3", Label: 3})
	m.Partial = true
	p := string(m.XML())
	if !strings.Contains(p, "<datamode>partial</datamode>") || strings.Contains(p, "Ana") || !strings.Contains(p, "Carol") ||
		!strings.Contains(p, "<disassociate-time>") || !strings.Contains(p, "<label>3</label>") || strings.Contains(p, "<label>1</label>") {
		t.Errorf("partial metadata:\n%s", p)
	}
	sdp := SDP(7, 2, "127.0.0.1", m.Streams, []int{30000, 30002, 30004})
	if n := bytes.Count(sdp, []byte("a=sendonly")); n != 3 || !bytes.Contains(sdp, []byte("m=audio 30004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=label:3")) {
		t.Errorf("SDP:\n%s", sdp)
	}
	ct, body := Multipart(sdp, x)
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", ct, err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var types []string
	for {
		part, err := r.NextPart()
		if err != nil {
			break
		}
		types = append(types, part.Header.Get("Content-Type")+"|"+part.Header.Get("Content-Disposition"))
	}
	if strings.Join(types, ",") != "application/sdp|,application/rs-metadata+xml|recording-session" {
		t.Errorf("parts: %v", types)
	}
}
