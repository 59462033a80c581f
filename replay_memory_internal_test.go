package guardian

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestMemoryReplayCacheCapacity: the capacity holds across the shards,
// exactly; expired keys make room again, in the order they were recorded,
// and a key recorded again outlives its first entry.
func TestMemoryReplayCacheCapacity(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m := NewMemoryReplayCache(100)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	use := func(k string, ttl time.Duration) (bool, error) { return m.Use(ctx, k, ttl) }
	for i := range 100 {
		ttl := time.Minute
		if i < 10 {
			ttl = time.Second
		}
		if first, err := use("k"+strconv.Itoa(i), ttl); !first || err != nil {
			t.Fatalf("key %d: %v, %v", i, first, err)
		}
	}
	if first, err := use("overflow", time.Minute); first || err != errReplayCacheFull {
		t.Fatalf("the 101st key: %v, %v; want the cache full", first, err)
	}
	now = now.Add(time.Second) // the 10 short keys expire
	for i := range 10 {
		if first, err := use("new"+strconv.Itoa(i), time.Minute); !first || err != nil {
			t.Fatalf("a new key once 10 expired (#%d): %v, %v", i, first, err)
		}
	}
	if first, err := use("overflow", time.Minute); first || err != errReplayCacheFull {
		t.Fatalf("full again: %v, %v", first, err)
	}
	for i := 10; i < 100; i++ {
		if first, err := use("k"+strconv.Itoa(i), time.Minute); first || err != nil {
			t.Fatalf("a held key %d: %v, %v; want a replay", i, first, err)
		}
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d, want 100", m.Len())
	}
	now = now.Add(time.Minute)
	// Everything has expired: taking over the old keys, and new ones, works.
	if first, err := use("k50", time.Hour); !first || err != nil {
		t.Fatalf("an expired key taken over: %v, %v", first, err)
	}
	for i := range 99 {
		if first, err := use("later"+strconv.Itoa(i), time.Minute); !first || err != nil {
			t.Fatalf("a later key %d: %v, %v", i, first, err)
		}
	}
	now = now.Add(2 * time.Minute) // the later keys expire; k50 (an hour) does not
	for range 3 {
		use("tick", time.Nanosecond) // drops a few expired keys each time
	}
	if first, _ := use("k50", time.Hour); first {
		t.Fatal("k50, recorded again for an hour, was forgotten with its first entry")
	}
}

// BenchmarkMemoryReplayCacheFull: a full cache answers at once, without
// scanning it.
func BenchmarkMemoryReplayCacheFull(b *testing.B) {
	m := NewMemoryReplayCache(1 << 16)
	ctx := context.Background()
	for i := range 1 << 16 {
		m.Use(ctx, "k"+strconv.Itoa(i), time.Hour)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Use(ctx, "overflow", time.Hour); err == nil {
			b.Fatal("not full")
		}
	}
}
