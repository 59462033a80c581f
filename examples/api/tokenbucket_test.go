package main

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a clock the test moves; it never reads the wall clock.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)} }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

var fivePer15m = bucketRule{burst: 5, per: 15 * time.Minute}

func TestBucketBurstThenRefill(t *testing.T) {
	clock := newFakeClock()
	b := &tokenBucket{tokens: 5, last: clock.now()}
	for i := range 5 {
		if ok, _ := b.take(fivePer15m, clock.now()); !ok {
			t.Fatalf("take #%d refused within the burst", i+1)
		}
	}
	ok, wait := b.take(fivePer15m, clock.now())
	if ok || wait != 3*time.Minute {
		t.Fatalf("6th take = %v, wait %v; want refused, wait 3m", ok, wait)
	}
	clock.advance(time.Minute)
	if ok, wait := b.take(fivePer15m, clock.now()); ok || wait != 2*time.Minute {
		t.Fatalf("take a minute later = %v, wait %v; want refused, wait 2m", ok, wait)
	}
	clock.advance(2 * time.Minute)
	if ok, _ := b.take(fivePer15m, clock.now()); !ok {
		t.Fatal("take 3 minutes later refused; one token is back")
	}
	if ok, wait := b.take(fivePer15m, clock.now()); ok || wait != 3*time.Minute {
		t.Fatalf("next take = %v, wait %v; want refused, wait 3m", ok, wait)
	}
}

func TestBucketNeverHoldsMoreThanItsBurst(t *testing.T) {
	clock := newFakeClock()
	b := &tokenBucket{tokens: 5, last: clock.now()}
	clock.advance(24 * time.Hour)
	for range 5 {
		b.take(fivePer15m, clock.now())
	}
	if ok, _ := b.take(fivePer15m, clock.now()); ok {
		t.Fatal("a bucket idle for a day gave more than its burst")
	}
}

func TestBucketClockGoingBack(t *testing.T) {
	clock := newFakeClock()
	b := &tokenBucket{tokens: 0, last: clock.now()}
	clock.advance(-time.Hour)
	ok, wait := b.take(fivePer15m, clock.now())
	if ok || wait != 3*time.Minute {
		t.Fatalf("take after the clock went back = %v, wait %v; want refused, wait 3m (no refill)", ok, wait)
	}
	clock.advance(time.Hour + 3*time.Minute) // 3 minutes after the last take
	if ok, _ := b.take(fivePer15m, clock.now()); !ok {
		t.Fatal("take 3 minutes after the last one refused")
	}
}

func TestBucketGive(t *testing.T) {
	clock := newFakeClock()
	b := &tokenBucket{tokens: 5, last: clock.now()}
	b.take(fivePer15m, clock.now())
	b.take(fivePer15m, clock.now())
	if full := b.give(fivePer15m, clock.now()); full {
		t.Fatal("give after two takes reports full")
	}
	if full := b.give(fivePer15m, clock.now()); !full {
		t.Fatal("give of the last token taken does not report full")
	}
	if full := b.give(fivePer15m, clock.now()); !full || b.tokens != 5 {
		t.Fatalf("give on a full bucket: full %v, tokens %v; want full at 5", full, b.tokens)
	}
}

func TestTablePeekSpendsNothing(t *testing.T) {
	clock := newFakeClock()
	tab := newBucketTable(fivePer15m, 100, time.Minute)
	for range 10 {
		if wait := tab.peek("k", clock.now()); wait != 0 {
			t.Fatalf("peek of a fresh key = %v, want 0", wait)
		}
	}
	if tab.len() != 0 {
		t.Fatalf("peek created %d buckets", tab.len())
	}
	for i := range 5 {
		if ok, _ := tab.take("k", clock.now()); !ok {
			t.Fatalf("take #%d refused", i+1)
		}
	}
	if wait := tab.peek("k", clock.now()); wait != 3*time.Minute {
		t.Fatalf("peek of a drained key = %v, want 3m", wait)
	}
}

func TestTableGiveDropsFullBuckets(t *testing.T) {
	clock := newFakeClock()
	tab := newBucketTable(fivePer15m, 100, time.Minute)
	tab.take("k", clock.now())
	tab.give("k", clock.now())
	if tab.len() != 0 {
		t.Fatalf("a bucket given back its token is still held (%d)", tab.len())
	}
}

func TestTableSweepsRefilledBuckets(t *testing.T) {
	clock := newFakeClock()
	tab := newBucketTable(fivePer15m, 100, time.Minute)
	for i := range 10 {
		tab.take(fmt.Sprint("k", i), clock.now())
	}
	tab.take("drained", clock.now())
	tab.take("drained", clock.now())
	tab.take("drained", clock.now())
	clock.advance(4 * time.Minute) // the one-token keys are full again, "drained" is not
	tab.peek("other", clock.now())
	if tab.len() != 1 {
		t.Fatalf("after a sweep the table holds %d buckets, want 1 (the one still short)", tab.len())
	}
	clock.advance(6 * time.Minute)
	tab.peek("other", clock.now())
	if tab.len() != 0 {
		t.Fatalf("after the last bucket refilled the table holds %d, want 0", tab.len())
	}
}

func TestTableIsBounded(t *testing.T) {
	clock := newFakeClock()
	tab := newBucketTable(fivePer15m, 64, time.Hour)
	for i := range 10_000 {
		tab.take(fmt.Sprint("k", i), clock.now())
		if tab.len() > 64 {
			t.Fatalf("table holds %d buckets after %d keys, more than its 64", tab.len(), i+1)
		}
	}
}

// A full table drops the keys with the fewest failures first: the key an
// attacker drained stays, however many one-off keys come.
func TestTableEvictsTheFullestFirst(t *testing.T) {
	clock := newFakeClock()
	tab := newBucketTable(fivePer15m, 16, time.Hour)
	for range 5 {
		tab.take("victim", clock.now())
	}
	for i := range 1000 {
		tab.take(fmt.Sprint("junk", i), clock.now())
	}
	if wait := tab.peek("victim", clock.now()); wait == 0 {
		t.Fatal("the drained key was evicted by one-off keys")
	}
}
