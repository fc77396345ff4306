package notify_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/split-hub/split/internal/notify"
)

// A Dispatcher with the copy channel: Deliver returns at once and the
// outcome arrives through OnResult.
func ExampleDispatcher() {
	done := make(chan struct{})
	d, err := notify.New(map[notify.Channel]notify.Sender{notify.ChannelLink: notify.CopyLink{}}, notify.Options{
		OnResult: func(m notify.Message, r notify.Receipt, err error, attempt int, final bool) {
			fmt.Println(m.Ref, r.Status, err, attempt, final)
			close(done)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	d.Deliver(context.Background(), notify.Message{Channel: notify.ChannelLink, Link: "https://split.example/j/Ab3", Ref: "ses_1"})
	<-done
	if err := d.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output: ses_1 ready <nil> 1 true
}

// An invitation for a scheduled call (printed with LF for the example; the
// real output has CRLF line endings).
func ExampleEvent_ICS() {
	ev := notify.Event{
		UID:       "ses_1@split.example",
		Start:     time.Date(2026, 3, 14, 8, 30, 0, 0, time.UTC),
		Duration:  30 * time.Minute,
		Summary:   "Video call",
		URL:       "https://split.example/j/Ab3",
		Organizer: "support@split.example",
		Attendee:  "maria@example.com",
	}
	if err := ev.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(ev.ICS(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))), "\r\n", "\n"))
	// Output:
	// BEGIN:VCALENDAR
	// VERSION:2.0
	// PRODID:-//SPLIT//Scheduled video calls//EN
	// CALSCALE:GREGORIAN
	// METHOD:REQUEST
	// BEGIN:VEVENT
	// UID:ses_1@split.example
	// DTSTAMP:20260301T120000Z
	// DTSTART:20260314T083000Z
	// DTEND:20260314T090000Z
	// SEQUENCE:0
	// STATUS:CONFIRMED
	// SUMMARY:Video call
	// DESCRIPTION:https://split.example/j/Ab3
	// LOCATION:https://split.example/j/Ab3
	// URL:https://split.example/j/Ab3
	// ORGANIZER:mailto:support@split.example
	// ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:maria@example.com
	// CONFERENCE;VALUE=URI;FEATURE=VIDEO,AUDIO;LABEL=Join video call:https://spli
	//  t.example/j/Ab3
	// END:VEVENT
	// END:VCALENDAR
}
