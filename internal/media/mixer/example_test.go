package mixer_test

import (
	"fmt"

	"github.com/split-hub/split/internal/leg"
	"github.com/split-hub/split/internal/media/mixer"
)

// A supervisor whispers to an agent: the customer does not hear the
// supervisor. The mixer sends each leg, every 20 ms, the others' voices in
// that leg's codec; Close stops it and detaches the tracks.
func ExampleMixer_SetHears() {
	sink := leg.WriterFunc(func([]byte) error { return nil })
	pcmu := leg.Codec{PT: 0, Name: "PCMU", Clock: 8000}
	opus := leg.Codec{PT: 111, Name: "opus", Clock: 48000, Channels: 2}
	customer := leg.NewTrack("audio", pcmu, leg.Codec{}, sink)
	agent := leg.NewTrack("audio", opus, leg.Codec{}, sink)
	supervisor := leg.NewTrack("audio", opus, leg.Codec{}, sink)

	m := mixer.New(mixer.Options{})
	defer m.Close()
	m.SetHears("customer", "supervisor", false) // before the supervisor joins: no leak
	for id, t := range map[string]*leg.Track{"customer": customer, "agent": agent, "supervisor": supervisor} {
		if err := m.Add(id, t); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(m.Participants(), "participants")
	// Output: 3 participants
}
