package leg

import "testing"

func TestIsRecvDTMF(t *testing.T) {
	tr := NewTrack("audio", Codec{PT: 0, Name: "PCMU", Clock: 8000}, Codec{}, nil)
	for pt := 0; pt < 128; pt++ {
		if tr.IsRecvDTMF(uint8(pt)) {
			t.Fatalf("pt %d is DTMF before any format was declared", pt)
		}
	}
	tr.SetRecv([]Codec{{PT: 0, Name: "PCMU", Clock: 8000}, {PT: 101, Name: "telephone-event", Clock: 8000},
		{PT: 63, Name: "TELEPHONE-EVENT", Clock: 48000}, {PT: 111, Name: "opus", Clock: 48000}})
	for pt := 0; pt < 128; pt++ {
		c, ok := tr.RecvCodec(uint8(pt))
		want := ok && c.Is("telephone-event")
		if got := tr.IsRecvDTMF(uint8(pt)); got != want {
			t.Errorf("IsRecvDTMF(%d) = %v, RecvCodec says %v", pt, got, want)
		}
	}
	tr.SetRecv([]Codec{{PT: 8, Name: "PCMA", Clock: 8000}})
	if tr.IsRecvDTMF(101) || tr.IsRecvDTMF(63) {
		t.Error("telephone-event still recognised after a re-negotiation without it")
	}
}

func BenchmarkIsRecvDTMF(b *testing.B) {
	tr := NewTrack("audio", Codec{PT: 0, Name: "PCMU", Clock: 8000}, Codec{}, nil)
	tr.SetRecv([]Codec{{PT: 0, Name: "PCMU", Clock: 8000}, {PT: 101, Name: "telephone-event", Clock: 8000}})
	for i := 0; i < b.N; i++ {
		if tr.IsRecvDTMF(uint8(i&127)) && i&127 != 101 {
			b.Fatal("wrong")
		}
	}
}
