package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// clusterEnv names the seed nodes of a Redis Cluster for the Cluster tests,
// comma-separated (e.g. 127.0.0.1:7101,127.0.0.1:7102). scripts/test.sh
// starts one (scripts/redis-topologies.sh): three masters with a replica
// each. Without it the tests skip; with CI=true they fail.
const clusterEnv = "GUARDIAN_TEST_REDIS_CLUSTER_ADDRS"

func newClusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs := topologyEnv(t, clusterEnv, "Redis Cluster")
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 strings.Split(addrs, ","),
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("Redis Cluster at %s does not answer: %v", addrs, err)
	}
	return client
}

func TestClusterConformance(t *testing.T) {
	client := newClusterClient(t)
	s, _ := newStoreOn(t, client, nil)
	revokertest.Run(t, func(t *testing.T) guardian.Revoker { return s })
}

// TestClusterSpreadsKeys checks that a check whose three records live on
// three different masters answers right: hash tags in the IDs pin each key
// to a slot of another master.
func TestClusterSpreadsKeys(t *testing.T) {
	client := newClusterClient(t)
	top := clusterTopology(t, client)
	if len(top.masters) < 3 {
		t.Skipf("the Cluster has %d masters; want 3 for keys on three of them", len(top.masters))
	}
	s, prefix := newStoreOn(t, client, nil)
	ctx := context.Background()
	tags := make([]string, 3)
	for i := range tags {
		tags[i] = top.tagOn(t, top.masters[i], nil)
	}
	id := func(i int, kind string) string { return "{" + tags[i] + "}" + revokertest.NewID(kind) }
	c := revokertest.Token(id(1, "sub"))
	c.ID, c.Family = id(0, "jti"), id(2, "fam")
	keys := []string{prefix + "jti:" + c.ID, prefix + "sub:" + c.Subject, prefix + "fam:" + c.Family}
	for i, key := range keys {
		slot, err := client.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if owner := top.owner(int(slot)); owner != top.masters[i] {
			t.Fatalf("key %q in slot %d lives on %s, want %s", key, slot, owner.addr, top.masters[i].addr)
		}
	}
	if err := client.MGet(ctx, keys...).Err(); err != nil {
		t.Logf("MGET across masters: %v (why the Store pipelines GETs on a Cluster)", err)
	}
	revokertest.WantRevoked(t, s, c, false, "a fresh token")
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: c.IssuedAt, TTL: time.Hour})
	revokertest.WantRevoked(t, s, c, true, "a token of a revoked subject")
	other := revokertest.Token(id(1, "sub"))
	other.ID, other.Family = id(0, "jti"), id(2, "fam")
	revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByFamily, ID: other.Family, At: other.IssuedAt, TTL: time.Hour})
	revokertest.WantRevoked(t, s, other, true, "a token of a revoked family")
}

// TestClusterWaitReplicas checks WAIT on the primary that owns each key.
func TestClusterWaitReplicas(t *testing.T) {
	client := newClusterClient(t)
	ctx := context.Background()
	top := clusterTopology(t, client)
	replicas := -1 // the fewest replicas any master has
	for _, m := range top.masters {
		if n := len(top.replicas[m.id]); replicas < 0 || n < replicas {
			replicas = n
		}
	}
	if replicas > 0 {
		s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: replicas, WaitTimeout: time.Second})
		for range 10 { // keys on different primaries
			c := claims()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.BySubject, ID: c.Subject, At: testclock.Now(), TTL: time.Hour})
			revokertest.WantRevoked(t, s, c, true, "a token revoked with WaitReplicas")
		}
	}
	s, _ := newStoreOn(t, client, &redisstore.Options{WaitReplicas: 100, WaitTimeout: 100 * time.Millisecond})
	c := claims()
	if err := s.Revoke(ctx, guardian.Revocation{Kind: guardian.ByFamily, ID: c.Family, At: testclock.Now(), TTL: time.Hour}); !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Errorf("Revoke waiting for 100 replicas = %v, want ErrNotReplicated", err)
	}
}

// TestClusterReshardUnderLoad moves three slots from one master to another
// and back, for real (CLUSTER SETSLOT IMPORTING and MIGRATING, MIGRATE of
// the keys in batches, SETSLOT NODE), while workers revoke, check and
// consume tokens whose keys live in those slots (hash tags in their IDs),
// so that the Store meets ASK redirects while a slot is half moved and
// MOVED ones after. No call may fail, no revoked token may read as not
// revoked, and Consume stays exactly-once. The slots go back to their
// master at the end, whatever happens.
func TestClusterReshardUnderLoad(t *testing.T) {
	skipIfShort(t)
	client := newClusterClient(t)
	top := clusterTopology(t, client)
	if len(top.masters) < 2 {
		t.Skipf("the Cluster has %d masters; want 2 to move slots between", len(top.masters))
	}
	from, to := top.masters[0], top.masters[1]
	var tags []string
	var slots []int
	for len(tags) < 3 {
		tag := top.tagOn(t, from, slots)
		tags = append(tags, tag)
		slots = append(slots, slotOf(t, client, tag))
	}
	// A fourth tag on the other master: checks that span a moving and a
	// resting slot.
	tags = append(tags, top.tagOn(t, to, nil))
	t.Cleanup(func() { restoreSlots(t, client, top, slots, from) })

	s, _ := newStoreOn(t, client, nil)
	id := func(kind string) string {
		return "{" + tags[rand.IntN(len(tags))] + "}" + revokertest.NewID(kind)
	}
	// A generous deadline: this test is about redirects, not speed.
	l, stop := startLoad(t, s, 8, 2*time.Second, id)
	time.Sleep(300 * time.Millisecond)
	ctx := context.Background()
	for _, move := range []struct{ from, to *node }{{from, to}, {to, from}} {
		start := time.Now()
		moved, asked, err := moveSlots(ctx, top, slots, move.from, move.to)
		if err != nil {
			t.Fatalf("moving slots %v from %s to %s: %v", slots, move.from.addr, move.to.addr, err)
		}
		t.Logf("moved slots %v from %s to %s under load in %v: %d keys by MIGRATE, %d written through ASK redirects", slots, move.from.addr, move.to.addr, time.Since(start).Round(time.Millisecond), moved, asked)
		if asked <= 0 {
			t.Errorf("no key was written on %s while the slots were half moved: the workers met no ASK redirect", move.to.addr)
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop()
	l.verify(t)
	if _, out := l.failuresBetween(time.Time{}, time.Time{}); len(out) > 0 {
		t.Errorf("failed calls during the resharding: %s", summarize(out))
	}
}

// TestClusterFailoverUnderLoad promotes a replica with CLUSTER FAILOVER
// (the coordinated manual failover: the master stops writes until the
// replica has caught up) while workers revoke, check and consume. No
// revoked token may read as not revoked and Consume stays exactly-once;
// calls may fail, with ErrUnavailable, only from the failover until 2 s
// after the roles have switched, and none after: the Store recovers by
// itself. The original master gets its role back at the end.
func TestClusterFailoverUnderLoad(t *testing.T) {
	skipIfShort(t)
	client := newClusterClient(t)
	top := clusterTopology(t, client)
	var master, replica *node
	for _, m := range top.masters {
		if len(top.replicas[m.id]) > 0 {
			master, replica = m, top.replicas[m.id][0]
			break
		}
	}
	if master == nil {
		t.Skip("no master of the Cluster has a replica")
	}
	t.Cleanup(func() {
		// Give the original master its role back (a no-op when it has it).
		if role(t, master) != "master" {
			clusterFailover(t, master, replica)
		}
		clusterTopology(t, client) // waits until healthy
	})

	s, _ := newStoreOn(t, client, nil)
	const grace = 2 * time.Second
	l, stop := startLoad(t, s, 8, 500*time.Millisecond, nil)
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	clusterFailover(t, replica, master)
	switched := time.Now()
	time.Sleep(grace + time.Second) // the grace, then a second that must be clean
	stop()
	l.verify(t)
	in, out := l.failuresBetween(start, switched.Add(grace))
	t.Logf("failover of %s to %s took %v; failed calls during it: %s", master.addr, replica.addr, switched.Sub(start).Round(time.Millisecond), summarize(in))
	if len(out) > 0 {
		t.Errorf("failed calls outside the failover (before it, or more than %v after the switch): %s", grace, summarize(out))
	}
}

// node is one server of a Cluster, with a client of its own.
type node struct {
	id, addr string
	client   *redis.Client
}

// topology is a Cluster as one node saw it, once every node said
// cluster_state:ok and every replica was in sync.
type topology struct {
	masters  []*node            // by address
	replicas map[string][]*node // by master ID
	slots    [16384]*node       // owners
}

// clusterTopology waits until the Cluster is healthy (every node says
// cluster_state:ok and agrees on the slots' masters, every replica's link
// is up) and returns its layout. Tests that change the Cluster call it
// first, so that each starts from a settled Cluster whatever ran before.
func clusterTopology(t testing.TB, client *redis.ClusterClient) *topology {
	t.Helper()
	ctx := context.Background()
	var top *topology
	var last error
	clients := map[string]*redis.Client{}
	for stop := time.Now().Add(30 * time.Second); time.Now().Before(stop); time.Sleep(200 * time.Millisecond) {
		if top, last = readTopology(ctx, t, client, clients); last == nil {
			return top
		}
	}
	t.Fatalf("the Redis Cluster is not healthy after 30s: %v", last)
	return nil
}

// readTopology reads the layout from a seed node's CLUSTER NODES and checks
// every node, through clients (by address; new ones are added).
func readTopology(ctx context.Context, t testing.TB, client *redis.ClusterClient, clients map[string]*redis.Client) (*topology, error) {
	var mu sync.Mutex
	var nodesText string
	err := client.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
		s, err := c.ClusterNodes(ctx).Result()
		mu.Lock()
		defer mu.Unlock()
		if err == nil && nodesText == "" {
			nodesText = s
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	top := &topology{replicas: map[string][]*node{}}
	var all []*node
	for line := range strings.Lines(nodesText) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		if clients[addr] == nil {
			clients[addr] = nodeClient(t, addr)
		}
		n := &node{id: f[0], addr: addr, client: clients[addr]}
		all = append(all, n)
		flags := strings.Split(f[2], ",")
		switch {
		case slices.Contains(flags, "fail") || slices.Contains(flags, "fail?"):
			return nil, fmt.Errorf("node %s is %s", addr, f[2])
		case slices.Contains(flags, "master"):
			top.masters = append(top.masters, n)
			for _, r := range f[8:] {
				if strings.HasPrefix(r, "[") {
					return nil, fmt.Errorf("slot %s is being moved", r)
				}
				lo, hi, ok := strings.Cut(r, "-")
				if !ok {
					hi = lo
				}
				a, _ := strconv.Atoi(lo)
				b, _ := strconv.Atoi(hi)
				for s := a; s <= b && s < len(top.slots); s++ {
					top.slots[s] = n
				}
			}
		default:
			top.replicas[f[3]] = append(top.replicas[f[3]], n)
		}
	}
	slices.SortFunc(top.masters, func(a, b *node) int { return strings.Compare(a.addr, b.addr) })
	for s, n := range top.slots {
		if n == nil {
			return nil, fmt.Errorf("slot %d has no master", s)
		}
	}
	for _, n := range all {
		addr := n.addr
		info, err := n.client.ClusterInfo(ctx).Result()
		if err != nil {
			return nil, err
		}
		if v, _ := infoValue(info, "cluster_state"); v != "ok" {
			return nil, fmt.Errorf("%s says cluster_state:%s", addr, v)
		}
		repl, err := n.client.Info(ctx, "replication").Result()
		if err != nil {
			return nil, err
		}
		r, _ := infoValue(repl, "role")
		if want := map[bool]string{true: "master", false: "slave"}[slices.Contains(top.masters, n)]; r != want {
			return nil, fmt.Errorf("%s has role %s, but the Cluster lists it as %s", addr, r, want)
		}
		if r == "slave" {
			if v, _ := infoValue(repl, "master_link_status"); v != "up" {
				return nil, fmt.Errorf("replica %s: master_link_status:%s", addr, v)
			}
		}
		// Every node agrees on every slot's owner, replicas included: a
		// replica promoted while it still has an old view of a resharding
		// claims the slots it thinks its master had, leaves the others
		// unserved, and the Cluster goes down (CLUSTERDOWN).
		text, err := n.client.ClusterNodes(ctx).Result()
		if err != nil {
			return nil, err
		}
		if err := sameOwners(text, top); err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
	}
	return top, nil
}

// sameOwners checks that a CLUSTER NODES text gives every slot the owner
// top does.
func sameOwners(text string, top *topology) error {
	var owners [16384]string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "master") {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				return fmt.Errorf("slot %s is being moved", r)
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			for s := a; s <= b && s < len(owners); s++ {
				owners[s] = f[0]
			}
		}
	}
	for s, id := range owners {
		if id != top.slots[s].id {
			return fmt.Errorf("slot %d belongs to %q here, to %s elsewhere", s, id, top.slots[s].id)
		}
	}
	return nil
}

// nodeClient returns a client of one node, closed when the test ends.
func nodeClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// owner returns the master of slot.
func (top *topology) owner(slot int) *node { return top.slots[slot] }

// tagOn returns a hash tag whose slot belongs to master m and is not in
// taken.
func (top *topology) tagOn(t testing.TB, m *node, taken []int) string {
	t.Helper()
	for i := range 10000 {
		tag := fmt.Sprintf("guardiantest-%d", i)
		slot := slotOf(t, nil, tag)
		if top.owner(slot) == m && !slices.Contains(taken, slot) {
			return tag
		}
	}
	t.Fatalf("no hash tag found on %s", m.addr)
	return ""
}

// slotOf returns the Cluster slot of key: CRC16 (XMODEM) of its hash tag,
// or of the key, modulo 16384. With a client, it checks the answer against
// CLUSTER KEYSLOT.
func slotOf(t testing.TB, client *redis.ClusterClient, key string) int {
	t.Helper()
	k := key
	if i := strings.IndexByte(k, '{'); i >= 0 {
		if j := strings.IndexByte(k[i+1:], '}'); j > 0 {
			k = k[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(k); i++ {
		crc ^= uint16(k[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	slot := int(crc) % 16384
	if client != nil {
		got, err := client.ClusterKeySlot(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if int(got) != slot {
			t.Fatalf("slot of %q: CLUSTER KEYSLOT says %d, the test computed %d", key, got, slot)
		}
	}
	return slot
}

// moveSlots moves slots from one master to another, all at once and in
// small batches of keys, so that the slots stay half moved for a while:
// IMPORTING on the target, MIGRATING on the source, MIGRATE of the keys,
// then SETSLOT NODE on the target, the source and the other masters. It
// resumes a move that was left half done. It returns how many keys MIGRATE
// moved, and how many were written on the target while the slots were half
// moved: by commands that the source redirected there with ASK.
func moveSlots(ctx context.Context, top *topology, slots []int, from, to *node) (moved, asked int, err error) {
	before, err := keysIn(ctx, to, slots)
	if err != nil {
		return 0, 0, err
	}
	var open []int // slots whose keys still have to move
	for _, slot := range slots {
		owner, migrating, err := ownerIn(ctx, from, slot)
		if err != nil {
			return 0, 0, err
		}
		if owner == to.id {
			continue // only SETSLOT NODE left (again, harmless)
		}
		if owner != from.id {
			return 0, 0, fmt.Errorf("slot %d belongs to %s, not %s", slot, owner, from.addr)
		}
		if err := to.client.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id).Err(); err != nil {
			return 0, 0, fmt.Errorf("SETSLOT %d IMPORTING on %s: %w", slot, to.addr, err)
		}
		if !migrating {
			if err := from.client.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id).Err(); err != nil {
				return 0, 0, fmt.Errorf("SETSLOT %d MIGRATING on %s: %w", slot, from.addr, err)
			}
		}
		open = append(open, slot)
	}
	host, port, _ := net.SplitHostPort(to.addr)
	for len(open) > 0 {
		var still []int
		for _, slot := range open {
			keys, err := from.client.ClusterGetKeysInSlot(ctx, slot, 5).Result()
			if err != nil {
				return moved, 0, err
			}
			if len(keys) == 0 {
				continue
			}
			args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
			for _, k := range keys {
				args = append(args, k)
			}
			if err := from.client.Do(ctx, args...).Err(); err != nil {
				return moved, 0, fmt.Errorf("MIGRATE of %d keys of slot %d: %w", len(keys), slot, err)
			}
			moved += len(keys)
			still = append(still, slot)
		}
		open = still
		time.Sleep(20 * time.Millisecond) // let the workers meet the half-moved slots
	}
	after, err := keysIn(ctx, to, slots)
	if err != nil {
		return moved, 0, err
	}
	asked = after - before - moved
	targets := []*node{to, from} // the target first, as redis-cli does
	for _, m := range top.masters {
		if m != to && m != from {
			targets = append(targets, m)
		}
	}
	for _, slot := range slots {
		for _, n := range targets {
			if err := n.client.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", to.id).Err(); err != nil {
				return moved, 0, fmt.Errorf("SETSLOT %d NODE on %s: %w", slot, n.addr, err)
			}
		}
	}
	return moved, asked, nil
}

// keysIn counts n's keys in slots.
func keysIn(ctx context.Context, n *node, slots []int) (int, error) {
	total := 0
	for _, slot := range slots {
		k, err := n.client.ClusterCountKeysInSlot(ctx, slot).Result()
		if err != nil {
			return 0, err
		}
		total += int(k)
	}
	return total, nil
}

// ownerIn returns the owner of slot as n sees it, and whether n is
// migrating it.
func ownerIn(ctx context.Context, n *node, slot int) (owner string, migrating bool, err error) {
	text, err := n.client.ClusterNodes(ctx).Result()
	if err != nil {
		return "", false, err
	}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				if s, _, ok := strings.Cut(strings.TrimPrefix(r, "["), "->-"); ok && s == strconv.Itoa(slot) {
					migrating = true
				}
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			if a <= slot && slot <= b {
				owner = f[0]
			}
		}
	}
	return owner, migrating, nil
}

// restoreSlots gives slots back to master home, finishing first any move
// left half done, and waits until the Cluster is healthy.
func restoreSlots(t *testing.T, client *redis.ClusterClient, top *topology, slots []int, home *node) {
	ctx := context.Background()
	for _, slot := range slots {
		owner, migrating, err := ownerIn(ctx, home, slot)
		if err != nil {
			t.Errorf("restoring slot %d: %v", slot, err)
			continue
		}
		if owner == home.id && !migrating {
			continue
		}
		var other *node
		for _, m := range top.masters {
			if m == home {
				continue
			}
			claimed, _, _ := ownerIn(ctx, m, slot)
			_, imports, _ := importing(ctx, m, slot)
			if m.id == owner || claimed == m.id || imports {
				other = m
			}
		}
		if other == nil {
			t.Errorf("slot %d: %s holds it half moved, and no other master takes it", slot, home.addr)
			continue
		}
		if owner == home.id {
			// Half moved away from home: finish that move first.
			if _, _, err := moveSlots(ctx, top, []int{slot}, home, other); err != nil {
				t.Errorf("restoring slot %d: %v", slot, err)
				continue
			}
		}
		if _, _, err := moveSlots(ctx, top, []int{slot}, other, home); err != nil {
			t.Errorf("restoring slot %d to %s: %v", slot, home.addr, err)
		}
	}
	clusterTopology(t, client) // waits until healthy
}

// importing reports whether master m is importing slot.
func importing(ctx context.Context, m *node, slot int) (string, bool, error) {
	text, err := m.client.ClusterNodes(ctx).Result()
	if err != nil {
		return "", false, err
	}
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "myself") {
			continue
		}
		for _, r := range f[8:] {
			if s, from, ok := strings.Cut(strings.Trim(r, "[]"), "-<-"); ok && s == strconv.Itoa(slot) {
				return from, true, nil
			}
		}
	}
	return "", false, nil
}

// clusterFailover runs CLUSTER FAILOVER on replica and waits until it is
// the master and the old master its replica, in sync.
func clusterFailover(t *testing.T, replica, master *node) {
	t.Helper()
	ctx := context.Background()
	if err := replica.client.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER on %s: %v", replica.addr, err)
	}
	eventually(t, 15*time.Second, "CLUSTER FAILOVER on "+replica.addr, func() error {
		if r := role(t, replica); r != "master" {
			return fmt.Errorf("%s is still %s", replica.addr, r)
		}
		repl, err := master.client.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if r, _ := infoValue(repl, "role"); r != "slave" {
			return fmt.Errorf("old master %s is %s", master.addr, r)
		}
		if v, _ := infoValue(repl, "master_link_status"); v != "up" {
			return fmt.Errorf("old master %s: master_link_status:%s", master.addr, v)
		}
		return nil
	})
}

// role returns n's role from INFO replication ("master" or "slave").
func role(t testing.TB, n *node) string {
	repl, err := n.client.Info(context.Background(), "replication").Result()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	r, _ := infoValue(repl, "role")
	return r
}

// infoValue returns the value of name in an INFO (or CLUSTER INFO) reply.
func infoValue(info, name string) (string, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v, true
		}
	}
	return "", false
}
