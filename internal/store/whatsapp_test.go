package store

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func testWhatsApp(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	const pn, user = "106540352242922", "16505551234"

	// permissions
	_, err := db.WhatsAppPermission(ctx, pn, user)
	wantErr(t, err, ErrNotFound)
	exp := ms("2026-07-08T10:00:00Z")
	p := WhatsAppPermission{PhoneNumberID: pn, User: user, Status: WhatsAppPermissionTemporary, ExpiresAt: exp,
		Source: "user_action", UpdatedAt: ms("2026-07-01T10:00:00Z")}
	if err := db.SetWhatsAppPermission(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := db.WhatsAppPermission(ctx, pn, user)
	if err != nil || got != p {
		t.Fatalf("got %+v, %v; want %+v", got, err, p)
	}
	p.Status, p.ExpiresAt, p.Source = WhatsAppPermissionPermanent, time.Time{}, "meta"
	if err := db.SetWhatsAppPermission(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.WhatsAppPermission(ctx, pn, user); got != p {
		t.Fatalf("upsert: got %+v, want %+v", got, p)
	}
	// a BSUID user of the same number is another record
	if _, err := db.WhatsAppPermission(ctx, pn, "US.13491208655302741918"); err == nil {
		t.Fatal("BSUID user shares the record")
	}
	wantErr(t, db.SetWhatsAppPermission(ctx, WhatsAppPermission{PhoneNumberID: pn, User: user, Status: "maybe"}), ErrInvalid)
	wantErr(t, db.SetWhatsAppPermission(ctx, WhatsAppPermission{PhoneNumberID: "", User: user, Status: "none"}), ErrInvalid)

	// usage: counted since a time; rows older than 8 days are forgotten
	base := ms("2026-07-01T00:00:00Z")
	for i, at := range []time.Time{base.Add(-10 * 24 * time.Hour), base.Add(-2 * time.Hour), base.Add(-time.Hour), base} {
		if err := db.AddWhatsAppUsage(ctx, pn, user, WhatsAppUsagePermissionRequest, at); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := db.AddWhatsAppUsage(ctx, pn, user, WhatsAppUsageBusinessCall, base); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.AddWhatsAppUsage(ctx, pn, user, "hug", base), ErrInvalid)
	all, err := db.WhatsAppUsage(ctx, pn, user, WhatsAppUsagePermissionRequest, time.Time{})
	if err != nil || len(all) != 3 || !all[0].Equal(base.Add(-2*time.Hour)) || !all[2].Equal(base) {
		t.Fatalf("usage %v, %v: want 3, oldest first, the 10-day-old one forgotten", all, err)
	}
	recent, _ := db.WhatsAppUsage(ctx, pn, user, WhatsAppUsagePermissionRequest, base.Add(-90*time.Minute))
	calls, _ := db.WhatsAppUsage(ctx, pn, user, WhatsAppUsageBusinessCall, time.Time{})
	if len(recent) != 2 || len(calls) != 1 {
		t.Fatalf("since: %v; calls %v", recent, calls)
	}

	// dead letters: bodies kept byte for byte (also when not UTF-8), newest first
	bodies := [][]byte{[]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[]}]}` + "\n"), {0xff, 0x00, 'x'}}
	for i, b := range bodies {
		d := WhatsAppDeadLetter{ID: fmt.Sprintf("wh_%d", i), ReceivedAt: base, FailedAt: base.Add(time.Duration(i) * time.Minute),
			Signature: "sha256=ab", ContentType: "application/json", Body: b, Attempts: 6, LastStatus: 503, LastError: "HTTP 503\x00"}
		if err := db.AddWhatsAppDeadLetter(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, db.AddWhatsAppDeadLetter(ctx, WhatsAppDeadLetter{ID: "wh_0"}), ErrConflict)
	list, err := db.WhatsAppDeadLetters(ctx, 0)
	if err != nil || len(list) != 2 || list[0].ID != "wh_1" || !bytes.Equal(list[0].Body, bodies[1]) || !bytes.Equal(list[1].Body, bodies[0]) {
		t.Fatalf("dead letters %+v, %v", list, err)
	}
	d, err := db.WhatsAppDeadLetter(ctx, "wh_0")
	if err != nil || d.Signature != "sha256=ab" || d.Attempts != 6 || d.LastStatus != 503 || !d.ReceivedAt.Equal(base) || d.LastError != "HTTP 503\uFFFD" {
		t.Fatalf("dead letter %+v, %v", d, err)
	}
	if err := db.DeleteWhatsAppDeadLetter(ctx, "wh_0"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, db.DeleteWhatsAppDeadLetter(ctx, "wh_0"), ErrNotFound)
	_, err = db.WhatsAppDeadLetter(ctx, "wh_0")
	wantErr(t, err, ErrNotFound)
	if one, _ := db.WhatsAppDeadLetters(ctx, 1); len(one) != 1 {
		t.Fatalf("limit: %d", len(one))
	}
}
