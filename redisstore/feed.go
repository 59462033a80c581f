package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/redis/go-redis/v9"
)

// DefaultFeedInterval is [Options].FeedInterval when zero.
const DefaultFeedInterval = 100 * time.Millisecond

// ErrFeedBroken is wrapped by the error [Store.Follow] returns when the
// feed can no longer vouch for what it delivered: a subscription was lost
// or re-established, a message could not be read, the Cluster's masters
// changed. The mirror then lists the store again.
var ErrFeedBroken = errors.New("redisstore: revocation feed broken")

var _ guardian.Feed = (*Store)(nil)

// feedChannel is the Pub/Sub channel of the store's revocations.
func (s *Store) feedChannel() string { return s.prefix + "feed" }

// probePrefix starts the payload of a heartbeat probe; a record's payload
// starts with a digit or a minus sign (its PTTL).
const probePrefix = "probe "

// Follow makes the Store a [guardian.Feed], for a [guardian.FeedMirror]
// on each instance. The revocation script publishes every record it
// writes, as it writes it (PUBLISH inside the same script, so the write
// and its message are one atomic step), on the channel KeyPrefix+"feed".
//
// Follow subscribes to that channel on the primary (on every master of a
// Cluster, each directly), lists every record with SCAN, then applies each
// message. Every [Options].FeedInterval it publishes a probe through the
// same path as the writes and waits for it to come back: Redis delivers a
// server's messages to a subscriber in the order it executed them, so a
// probe published at t and received proves that every write acknowledged
// before t has arrived; on a Cluster a probe goes to each master, and the
// masters are checked to be the same ones, none of them migrating a slot,
// before the mirror is told it is current. Any error, a lost or re-made
// subscription, or a change of topology returns an error wrapping
// [ErrFeedBroken] or [guardian.ErrUnavailable]; the mirror starts over.
//
// Pub/Sub keeps no history: a subscriber that was away misses messages.
// That is why every start lists the store, and why a probe that does not
// come back within the mirror's MaxLag makes it ask Redis directly.
func (s *Store) Follow(ctx context.Context, sink guardian.FeedSink) error {
	nodes, err := s.feedNodes(ctx)
	if err != nil {
		return fmt.Errorf("%w: redisstore: feed: find the masters: %w", guardian.ErrUnavailable, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	subs := make([]*feedSub, len(nodes))
	for i, node := range nodes {
		sub, err := s.subscribe(ctx, node, i)
		if err != nil {
			for _, sub := range subs[:i] {
				sub.ps.Close()
			}
			return fmt.Errorf("%w: redisstore: feed: subscribe on %s: %w", guardian.ErrUnavailable, node.addr, err)
		}
		subs[i] = sub
	}
	// Closing the subscriptions is what ends the readers' Receive calls.
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		for _, sub := range subs {
			sub.ps.Close()
		}
		wg.Wait()
	}()
	var before string
	if s.cluster() {
		if before, err = s.checkTopology(ctx, nodes); err != nil {
			return err
		}
	}
	t0 := sink.Now()
	for _, node := range nodes {
		if err := s.list(ctx, node.client, sink); err != nil {
			return fmt.Errorf("%w: redisstore: feed: list the records on %s: %w", guardian.ErrUnavailable, node.addr, err)
		}
	}
	if s.cluster() {
		after, err := s.checkTopology(ctx, nodes)
		if err != nil {
			return err
		}
		if after != before {
			return fmt.Errorf("%w: the Cluster's slots moved while its records were listed", ErrFeedBroken)
		}
	}
	sink.Current(t0)

	// One reader per subscription; the first error ends them all.
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sub.read(ctx, s, sink); err != nil {
				cancel(err)
			}
		}()
	}
	tick := time.NewTicker(s.feedInterval)
	defer tick.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return feedEnd(ctx)
		case <-tick.C:
		}
		t := sink.Now()
		if err := s.probe(ctx, nodes, subs, seq); err != nil {
			if ctx.Err() != nil {
				return feedEnd(ctx)
			}
			return err
		}
		if s.cluster() {
			now, err := s.checkTopology(ctx, nodes)
			if err != nil {
				return err
			}
			if now != before {
				return fmt.Errorf("%w: the Cluster's masters or slots changed", ErrFeedBroken)
			}
		}
		sink.Current(t)
	}
}

// feedEnd is why Follow stops once its context is done: the reader's
// error, or the caller's.
func feedEnd(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return ctx.Err()
}

// feedNode is one server the feed subscribes to.
type feedNode struct {
	addr   string
	client *redis.Client
}

func (s *Store) cluster() bool {
	_, ok := s.client.(*redis.ClusterClient)
	return ok
}

// feedNodes returns the primary, or every master of a Cluster.
func (s *Store) feedNodes(ctx context.Context) ([]feedNode, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return []feedNode{{addr: c.Options().Addr, client: c}}, nil
	case *redis.ClusterClient:
		c.ReloadState(ctx)
		var mu sync.Mutex
		var nodes []feedNode
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			nodes = append(nodes, feedNode{addr: node.Options().Addr, client: node})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(nodes) == 0 {
			return nil, errors.New("the Cluster has no master")
		}
		return nodes, nil
	}
	return nil, fmt.Errorf("a feed needs a *redis.Client or a *redis.ClusterClient, not a %T", s.client)
}

// feedSub is the subscription on one node and its probes in flight.
type feedSub struct {
	index int
	ps    *redis.PubSub
	mu    sync.Mutex
	seen  uint64        // the last probe received
	got   chan struct{} // signalled at each probe received
}

// subscribe subscribes on node and waits for the confirmation.
func (s *Store) subscribe(ctx context.Context, node feedNode, index int) (*feedSub, error) {
	ps := node.client.Subscribe(ctx)
	if err := ps.Subscribe(ctx, s.feedChannel()); err != nil {
		ps.Close()
		return nil, err
	}
	msg, err := s.receive(ctx, ps)
	if err != nil {
		ps.Close()
		return nil, err
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		ps.Close()
		return nil, fmt.Errorf("got %T, want the subscription's confirmation", msg)
	}
	return &feedSub{index: index, ps: ps, got: make(chan struct{}, 1)}, nil
}

// receive is one Receive bounded by the feed's timeout.
func (s *Store) receive(ctx context.Context, ps *redis.PubSub) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	return ps.Receive(ctx)
}

// feedTimeout bounds each round trip of the feed.
func (s *Store) feedTimeout() time.Duration { return max(time.Second, 4*s.feedInterval) }

// read applies the subscription's messages until ctx is done or the
// subscription fails.
func (sub *feedSub) read(ctx context.Context, s *Store, sink guardian.FeedSink) error {
	for {
		msg, err := sub.ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: %w: %w", ErrFeedBroken, guardian.ErrUnavailable, err)
		}
		switch m := msg.(type) {
		case *redis.Message:
			if strings.HasPrefix(m.Payload, probePrefix) {
				n, err := parseProbe(m.Payload, sub.index)
				if err != nil {
					return fmt.Errorf("%w: %w", ErrFeedBroken, err)
				}
				sub.mu.Lock()
				if n > sub.seen {
					sub.seen = n
				}
				sub.mu.Unlock()
				select {
				case sub.got <- struct{}{}:
				default:
				}
				continue
			}
			r, ok, err := s.parseFeedMessage(m.Payload)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrFeedBroken, err)
			}
			if ok {
				sink.Apply(r)
			}
		case *redis.Subscription:
			// go-redis subscribed again on a new connection: what was
			// published in between is lost.
			return fmt.Errorf("%w: subscription re-made (%s %s)", ErrFeedBroken, m.Kind, m.Channel)
		case *redis.Pong:
		default:
			return fmt.Errorf("%w: unexpected %T on the subscription", ErrFeedBroken, msg)
		}
	}
}

// probe publishes probe seq on every node, through the path writes take,
// and waits until each comes back on that node's subscription.
func (s *Store) probe(ctx context.Context, nodes []feedNode, subs []*feedSub, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	for i, node := range nodes {
		var pub redis.Cmdable = node.client
		if !s.cluster() {
			pub = s.client // a failover client publishes on the primary of now
		}
		if err := pub.Publish(ctx, s.feedChannel(), probePayload(i, seq)).Err(); err != nil {
			return fmt.Errorf("%w: redisstore: feed: probe %s: %w", guardian.ErrUnavailable, node.addr, err)
		}
	}
	for _, sub := range subs {
		for {
			sub.mu.Lock()
			seen := sub.seen
			sub.mu.Unlock()
			if seen >= seq {
				break
			}
			select {
			case <-sub.got:
			case <-ctx.Done():
				return fmt.Errorf("%w: %w: redisstore: feed: probe %d did not come back: %w", ErrFeedBroken, guardian.ErrUnavailable, seq, ctx.Err())
			}
		}
	}
	return nil
}

// probePayload is probe seq for the subscription of node index.
func probePayload(index int, seq uint64) string {
	return probePrefix + strconv.Itoa(index) + " " + strconv.FormatUint(seq, 10)
}

// parseProbe returns the sequence number of a probe meant for the
// subscription of node index. A probe for another node (a Cluster forwards
// every message to every node) counts as none.
func parseProbe(payload string, index int) (uint64, error) {
	rest := strings.TrimPrefix(payload, probePrefix)
	node, seq, ok := strings.Cut(rest, " ")
	if !ok {
		return 0, fmt.Errorf("malformed probe %q", payload)
	}
	n, err := strconv.Atoi(node)
	if err != nil {
		return 0, fmt.Errorf("malformed probe %q", payload)
	}
	v, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed probe %q", payload)
	}
	if n != index {
		return 0, nil
	}
	return v, nil
}

// parseFeedMessage decodes a record's message: its PTTL in milliseconds,
// a newline, its value, a newline, its key. ok is false for a record that
// has already expired (PTTL -2) or a key of another kind under the prefix.
func (s *Store) parseFeedMessage(payload string) (r guardian.Revocation, ok bool, err error) {
	pttl, rest, ok1 := strings.Cut(payload, "\n")
	value, key, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 {
		return r, false, fmt.Errorf("malformed feed message %q", truncate(payload))
	}
	ms, err := strconv.ParseInt(pttl, 10, 64)
	if err != nil {
		return r, false, fmt.Errorf("malformed PTTL in feed message %q", truncate(payload))
	}
	return s.recordOf(key, value, ms)
}

// recordOf is the revocation a key of the store holds, with value and
// PTTL ms (-1: no expiry; -2: gone). ok is false for a key that is gone or
// no revocation's.
func (s *Store) recordOf(key, value string, ms int64) (r guardian.Revocation, ok bool, err error) {
	kind, id, found := s.recordKey(key)
	if !found {
		return r, false, nil
	}
	r.Kind, r.ID = kind, id
	switch {
	case ms == -2 || ms == 0:
		return r, false, nil
	case ms == -1:
		r.TTL = guardian.MaxRevocationTTL
	case ms < -2:
		return r, false, fmt.Errorf("record %q has PTTL %d", truncate(key), ms)
	default:
		r.TTL = min(time.Duration(ms)*time.Millisecond, guardian.MaxRevocationTTL)
	}
	at, _, _ := strings.Cut(value, " ") // Consume appends a call ID
	sec, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return r, false, fmt.Errorf("record %q holds %q, not a Unix time", truncate(key), truncate(value))
	}
	r.At = time.Unix(sec, 0)
	if err := r.Validate(); err != nil {
		// An ID no issuer could have revoked (say, one with a NUL byte,
		// written by hand): no token carries it either.
		return r, false, nil
	}
	return r, true, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// listBatch is how many keys each SCAN asks for.
const listBatch = 1000

// list passes every record on node to sink.
func (s *Store) list(ctx context.Context, node *redis.Client, sink guardian.FeedSink) error {
	ctx, cancel := context.WithTimeout(ctx, 10*s.feedTimeout())
	defer cancel()
	match := globEscape(s.prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, match, listBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			pipe := node.Pipeline()
			gets := make([]*redis.StringCmd, len(keys))
			ttls := make([]*redis.DurationCmd, len(keys))
			for i, k := range keys {
				gets[i] = pipe.Get(ctx, k)
				ttls[i] = pipe.PTTL(ctx, k)
			}
			_, _ = pipe.Exec(ctx)
			for i, k := range keys {
				v, err := gets[i].Result()
				if errors.Is(err, redis.Nil) {
					continue // expired since the SCAN
				}
				if err != nil {
					if isWrongType(err) && !isRecordKey(s, k) {
						continue // another kind of key under the prefix
					}
					return err
				}
				d, err := ttls[i].Result()
				if err != nil {
					return err
				}
				ms := int64(d / time.Millisecond)
				if d < 0 {
					ms = int64(d) // go-redis keeps -1 and -2 as is
				}
				r, ok, err := s.recordOf(k, v, ms)
				if err != nil {
					return err
				}
				if ok {
					sink.Apply(r)
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

func isWrongType(err error) bool { return strings.HasPrefix(err.Error(), "WRONGTYPE") }

// isRecordKey reports whether key names a revocation of the store.
func isRecordKey(s *Store, key string) bool {
	_, _, ok := s.recordKey(key)
	return ok
}

// recordKey splits a key of the store into the kind and ID of the
// revocation it holds; ok is false for any other key.
func (s *Store) recordKey(key string) (kind guardian.RevocationKind, id string, ok bool) {
	rest, found := strings.CutPrefix(key, s.prefix)
	if !found || len(rest) < len(tagToken) {
		return 0, "", false
	}
	switch rest[:len(tagToken)] {
	case tagToken:
		kind = guardian.ByToken
	case tagFamily:
		kind = guardian.ByFamily
	case tagSubject:
		kind = guardian.BySubject
	default:
		return 0, "", false
	}
	return kind, rest[len(tagToken):], true
}

// globEscape escapes the glob characters of SCAN's MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkTopology checks that every node is still a master and that they
// are all the Cluster's masters, with no slot migrating, and returns a
// description of the slot map to compare with a later one.
func (s *Store) checkTopology(ctx context.Context, nodes []feedNode) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.feedTimeout())
	defer cancel()
	for _, node := range nodes {
		role, err := node.client.Do(ctx, "ROLE").Slice()
		if err != nil {
			return "", fmt.Errorf("%w: redisstore: feed: ROLE on %s: %w", guardian.ErrUnavailable, node.addr, err)
		}
		if len(role) == 0 || role[0] != "master" {
			return "", fmt.Errorf("%w: %s is no longer a master", ErrFeedBroken, node.addr)
		}
	}
	text, err := nodes[0].client.ClusterNodes(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("%w: redisstore: feed: CLUSTER NODES: %w", guardian.ErrUnavailable, err)
	}
	masters, slots, migrating := parseClusterNodes(text)
	if migrating {
		return "", fmt.Errorf("%w: a slot is migrating", ErrFeedBroken)
	}
	ours := map[string]bool{}
	for _, n := range nodes {
		ours[n.addr] = true
	}
	for _, m := range masters {
		if !ours[m] {
			return "", fmt.Errorf("%w: %s is a master the feed does not follow", ErrFeedBroken, m)
		}
	}
	if len(masters) != len(nodes) {
		return "", fmt.Errorf("%w: the Cluster has %d masters with slots, the feed follows %d", ErrFeedBroken, len(masters), len(nodes))
	}
	return slots, nil
}

// parseClusterNodes reads CLUSTER NODES: the addresses of the masters
// that serve slots, their slot ranges in one string, and whether a slot
// is being migrated or imported.
func parseClusterNodes(text string) (masters []string, slots string, migrating bool) {
	var lines []string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		if len(f) == 8 {
			continue // a master without slots
		}
		addr, _, _ := strings.Cut(f[1], "@")
		masters = append(masters, addr)
		for _, slot := range f[8:] {
			if strings.HasPrefix(slot, "[") {
				migrating = true
			}
		}
		lines = append(lines, addr+" "+strings.Join(f[8:], " "))
	}
	slices.Sort(lines)
	return masters, strings.Join(lines, "\n"), migrating
}
