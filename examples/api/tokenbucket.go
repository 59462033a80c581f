package main

import (
	"cmp"
	"slices"
	"time"
)

// A bucketRule is a token bucket's shape: it holds at most burst tokens
// and gains burst tokens every per, continuously (one every per/burst).
type bucketRule struct {
	burst int
	per   time.Duration
}

// interval is how long one token takes to come back.
func (r bucketRule) interval() time.Duration { return r.per / time.Duration(r.burst) }

// tokenBucket is one key's bucket. It is not safe for concurrent use: its
// bucketTable locks.
type tokenBucket struct {
	tokens float64   // as of last
	last   time.Time // when tokens was computed
}

// refill brings the bucket up to now. A clock that went back refills
// nothing.
func (b *tokenBucket) refill(r bucketRule, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(r.burst), b.tokens+float64(elapsed)/float64(r.interval()))
		b.last = now
	}
}

// take spends one token and reports true, or, when the bucket holds less
// than one, reports false with how long until it does.
func (b *tokenBucket) take(r bucketRule, now time.Time) (ok bool, wait time.Duration) {
	b.refill(r, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(r.interval()))
}

// give puts one token back (never above burst), and reports whether the
// bucket is now full.
func (b *tokenBucket) give(r bucketRule, now time.Time) (full bool) {
	b.refill(r, now)
	b.tokens = min(float64(r.burst), b.tokens+1)
	return b.tokens >= float64(r.burst)
}

// bucketTable holds one bucket per key, at most maxKeys of them. A key without
// a bucket has a full one: buckets that have filled up again are dropped,
// by a sweep at most every sweepEvery, and when the table is full. So
// memory stays bounded whatever the keys, and only keys that spent
// tokens recently take room. It is not safe for concurrent use: the
// caller locks.
type bucketTable struct {
	rule       bucketRule
	maxKeys    int
	sweepEvery time.Duration

	buckets   map[string]*tokenBucket
	lastSweep time.Time
}

func newBucketTable(rule bucketRule, maxKeys int, sweepEvery time.Duration) *bucketTable {
	return &bucketTable{rule: rule, maxKeys: maxKeys, sweepEvery: sweepEvery, buckets: map[string]*tokenBucket{}}
}

// peek reports how long key must wait for a token: 0 when it has one.
func (t *bucketTable) peek(key string, now time.Time) time.Duration {
	t.maybeSweep(now)
	b, ok := t.buckets[key]
	if !ok {
		return 0
	}
	probe := *b
	if ok, wait := probe.take(t.rule, now); !ok {
		return wait
	}
	return 0
}

// take spends one token of key's bucket, or reports how long until it has
// one.
func (t *bucketTable) take(key string, now time.Time) (ok bool, wait time.Duration) {
	t.maybeSweep(now)
	b, found := t.buckets[key]
	if !found {
		if len(t.buckets) >= t.maxKeys {
			t.evict(now)
		}
		b = &tokenBucket{tokens: float64(t.rule.burst), last: now}
		t.buckets[key] = b
	}
	return b.take(t.rule, now)
}

// give puts back a token that take spent, and drops the bucket once full.
func (t *bucketTable) give(key string, now time.Time) {
	if b, ok := t.buckets[key]; ok && b.give(t.rule, now) {
		delete(t.buckets, key)
	}
}

func (t *bucketTable) len() int { return len(t.buckets) }

func (t *bucketTable) maybeSweep(now time.Time) {
	if now.Sub(t.lastSweep) >= t.sweepEvery || now.Before(t.lastSweep) {
		t.sweep(now)
	}
}

// sweep drops the buckets that are full again.
func (t *bucketTable) sweep(now time.Time) {
	t.lastSweep = now
	for k, b := range t.buckets {
		if b.refill(t.rule, now); b.tokens >= float64(t.rule.burst) {
			delete(t.buckets, k)
		}
	}
}

// evict makes room in a full table: after a sweep, it drops the eighth of
// the buckets that hold the most tokens, that is the keys with the least
// recent failures. A key that an attacker has drained (the one worth
// keeping) goes last: to push it out, the attacker must drain more keys
// further than that one.
func (t *bucketTable) evict(now time.Time) {
	t.sweep(now)
	if len(t.buckets) < t.maxKeys {
		return
	}
	type entry struct {
		key    string
		tokens float64
	}
	entries := make([]entry, 0, len(t.buckets))
	for k, b := range t.buckets {
		entries = append(entries, entry{k, b.tokens}) // refilled by sweep
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(b.tokens, a.tokens) })
	for _, e := range entries[:max(1, len(entries)/8)] {
		delete(t.buckets, e.key)
	}
}
