package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func testJoinLinks(t *testing.T, dsn string) {
	db := openT(t, dsn)
	ctx := t.Context()
	now := ms("2026-11-30T10:00:00Z")
	l := JoinLink{Hash: "h1", SessionID: "s1", Role: "customer", NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
		SingleUse: true, Channel: "sms", Recipient: "+34600000000", DeliveryStatus: "queued", DeliveryID: "SM1", CreatedAt: now}
	if err := db.PutJoinLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := db.PutJoinLink(ctx, l); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate hash: %v, want ErrConflict", err)
	}
	got, err := db.GetJoinLink(ctx, "h1")
	if err != nil || got.SessionID != "s1" || !got.SingleUse || !got.ExpiresAt.Equal(l.ExpiresAt) || got.Uses != 0 || !got.RevokedAt.IsZero() {
		t.Fatalf("GetJoinLink = %+v, %v", got, err)
	}
	if _, err := db.GetJoinLink(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
	// single use under contention: exactly one of 8 concurrent uses wins
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, used := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.UseJoinLink(ctx, "h1", now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrUsed):
				used++
			default:
				t.Errorf("UseJoinLink: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || used != 7 {
		t.Fatalf("single-use link: %d uses accepted, %d refused; want 1 and 7", wins, used)
	}
	// a reusable link counts uses; revocation stops it
	r := l
	r.Hash, r.SingleUse, r.AppointmentID, r.SessionID = "h2", false, "a1", ""
	if err := db.PutJoinLink(ctx, r); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := db.UseJoinLink(ctx, "h2", now); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.RevokeJoinLinks(ctx, "a1", now); err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	got, err = db.UseJoinLink(ctx, "h2", now)
	if !errors.Is(err, ErrRevoked) || got.Uses != 3 {
		t.Fatalf("revoked link: uses %d, err %v", got.Uses, err)
	}
	// delivery status by provider id
	if err := db.SetLinkDelivery(ctx, "", "SM1", "delivered"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetJoinLink(ctx, "h1"); got.DeliveryStatus != "delivered" {
		t.Fatalf("delivery status %q", got.DeliveryStatus)
	}
	if err := db.SetLinkDelivery(ctx, "", "SMx", "failed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown provider id: %v", err)
	}
	links, err := db.JoinLinks(ctx, "s1")
	if err != nil || len(links) != 1 {
		t.Fatalf("JoinLinks: %v %v", links, err)
	}
}
