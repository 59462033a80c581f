package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/guardian-go/guardian"
	"github.com/redis/go-redis/v9"
)

// ErrNotDurable is returned (wrapped) by [Store.Check] when a primary does
// not keep revocations across a restart as well as required. The message
// names the server and the setting to change.
var ErrNotDurable = errors.New("redisstore: Redis does not keep revocations across a restart as required")

// Unknown is the value of a [ServerPersistence] setting that could not be
// read: CONFIG GET was refused (renamed, disabled or denied by an ACL, as on
// many managed services) and INFO does not tell it.
const Unknown = "unknown"

// Durability says how much of what Redis acknowledged a restart or a crash
// can lose, from the least safe to the safest; a greater value is safer.
// [Store.Check] compares with it.
type Durability int

const (
	// DurabilityUnknown: the settings could not be read. It is the least
	// value, so Check(ctx, DurabilityUnknown) requires nothing.
	DurabilityUnknown Durability = iota
	// DurabilityNone: nothing is persisted (save "" and appendonly no). A
	// restart forgets every revocation.
	DurabilityNone
	// DurabilitySnapshot: RDB snapshots only (save rules, appendonly no). A
	// crash loses every revocation since the last snapshot; a clean shutdown
	// writes one.
	DurabilitySnapshot
	// DurabilityAOF: the append-only file with appendfsync no, or with an
	// appendfsync that could not be read. A crash of Redis loses nothing
	// written; a crash of the machine loses what the OS had not flushed
	// (about 30 seconds on Linux).
	DurabilityAOF
	// DurabilityAOFEverySec: appendfsync everysec, the default with AOF. A
	// crash can lose about the last second of revocations (two when the disk
	// is slow).
	DurabilityAOFEverySec
	// DurabilityAOFAlways: appendfsync always. Every acknowledged revocation
	// is on disk; a crash loses none.
	DurabilityAOFAlways
)

// String returns "unknown", "none", "snapshot", "aof", "aof-everysec" or
// "aof-always".
func (d Durability) String() string {
	switch d {
	case DurabilityUnknown:
		return "unknown"
	case DurabilityNone:
		return "none"
	case DurabilitySnapshot:
		return "snapshot"
	case DurabilityAOF:
		return "aof"
	case DurabilityAOFEverySec:
		return "aof-everysec"
	case DurabilityAOFAlways:
		return "aof-always"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Risk says in one sentence what a restart or a crash of Redis does to
// revocations at this durability.
func (d Durability) Risk() string {
	const undone = "logged-out tokens work again and spent refresh tokens refresh again, until they expire"
	switch d {
	case DurabilityNone:
		return "a restart of Redis forgets every revocation: " + undone
	case DurabilitySnapshot:
		return "a crash of Redis forgets every revocation made since the last RDB snapshot: " + undone
	case DurabilityAOF:
		return "a crash of the machine can forget the revocations the OS had not flushed to disk (about 30 seconds on Linux with appendfsync no): " + undone
	case DurabilityAOFEverySec:
		return "a crash can forget about the last second of revocations (two when the disk is slow)"
	case DurabilityAOFAlways:
		return "a restart or a crash forgets no acknowledged revocation"
	}
	return "whether a restart of Redis keeps revocations is unknown"
}

// ServerPersistence is what one Redis primary keeps across a restart, as
// [Store.Persistence] read it. Settings hold the value Redis reports, or
// [Unknown].
type ServerPersistence struct {
	// Addr is the server's address: the node's address on a Cluster, the
	// primary's on Sentinel (from CLIENT INFO; empty when that is refused).
	Addr string
	// Source is where the settings come from: "CONFIG GET", or "INFO" when
	// CONFIG GET was refused, or "" when neither answered.
	Source string
	// AppendOnly is appendonly: "yes" (AOF on) or "no".
	AppendOnly string
	// AppendFsync is appendfsync: "always", "everysec" or "no"; INFO does
	// not tell it.
	AppendFsync string
	// Save is save, the RDB snapshot rules (e.g. "3600 1 300 100 60 10000"),
	// "" when there are none; INFO does not tell them.
	Save string
	// MaxMemoryPolicy is maxmemory-policy; anything but "noeviction" lets
	// Redis evict revocations once it holds MaxMemory bytes.
	MaxMemoryPolicy string
	// MaxMemory is maxmemory, in bytes; "0" is no limit (nothing is
	// evicted).
	MaxMemory string
}

// Durability classifies the settings; when a setting it needs is
// [Unknown] it returns what the known ones guarantee (AOF on with an unknown
// appendfsync is DurabilityAOF), or DurabilityUnknown.
func (s ServerPersistence) Durability() Durability {
	switch s.AppendOnly {
	case "yes":
		switch s.AppendFsync {
		case "always":
			return DurabilityAOFAlways
		case "everysec":
			return DurabilityAOFEverySec
		}
		return DurabilityAOF
	case "no":
		switch s.Save {
		case Unknown:
			return DurabilityUnknown
		case "":
			return DurabilityNone
		}
		return DurabilitySnapshot
	}
	return DurabilityUnknown
}

// Evicts reports whether Redis may evict revocations: a memory limit with
// a maxmemory-policy other than noeviction. Every key the Store writes has a
// TTL, so the volatile-* policies pick them first; an evicted revocation
// un-revokes its token. An Unknown setting counts as no eviction.
func (s ServerPersistence) Evicts() bool {
	return s.MaxMemoryPolicy != Unknown && s.MaxMemoryPolicy != "noeviction" &&
		s.MaxMemory != Unknown && s.MaxMemory != "0"
}

// String lists the settings and where they come from, e.g.
// `127.0.0.1:6379: appendonly no, save "", maxmemory-policy noeviction (CONFIG GET)`.
func (s ServerPersistence) String() string {
	var b strings.Builder
	if s.Addr != "" {
		b.WriteString(s.Addr + ": ")
	}
	if s.Source == "" {
		b.WriteString("settings unreadable (CONFIG GET and INFO refused)")
		return b.String()
	}
	b.WriteString("appendonly " + s.AppendOnly)
	if s.AppendOnly == "yes" {
		b.WriteString(", appendfsync " + s.AppendFsync)
	}
	if s.Save == Unknown {
		b.WriteString(", save unknown")
	} else {
		fmt.Fprintf(&b, ", save %q", s.Save)
	}
	b.WriteString(", maxmemory-policy " + s.MaxMemoryPolicy)
	if s.Evicts() {
		b.WriteString(", maxmemory " + s.MaxMemory)
	}
	b.WriteString(" (" + s.Source + ")")
	return b.String()
}

// fix says what to change on s to reach want.
func (s ServerPersistence) fix(want Durability) string {
	switch {
	case want >= DurabilityAOF && s.AppendOnly == "no":
		return "set appendonly yes" + fsyncFor(want)
	case s.Durability() == DurabilityUnknown:
		return "its settings could not be read (CONFIG GET refused): allow CONFIG GET to the Store's user, or check appendonly and save on the server and require less"
	case want == DurabilitySnapshot:
		return "set appendonly yes (appendfsync everysec or always), or at least RDB save rules"
	case s.AppendFsync == Unknown:
		return "appendfsync could not be read (CONFIG GET refused): allow CONFIG GET to the Store's user, or check appendfsync on the server and require less"
	}
	return "set appendfsync" + strings.TrimPrefix(fsyncFor(want), " with appendfsync")
}

// fsyncFor names the appendfsync values that reach want.
func fsyncFor(want Durability) string {
	switch want {
	case DurabilityAOFEverySec:
		return " with appendfsync everysec or always"
	case DurabilityAOFAlways:
		return " with appendfsync always"
	}
	return " (appendfsync everysec or always)"
}

// Persistence is what the primaries behind a [Store] keep across a
// restart: one for a single server or a Sentinel-managed primary, every
// master of a Cluster. Print it (String) to log the risk.
type Persistence struct {
	// Servers has one entry per primary, by address.
	Servers []ServerPersistence
}

// Durability is the weakest of the servers' (DurabilityUnknown when there
// are none).
func (p Persistence) Durability() Durability {
	if len(p.Servers) == 0 {
		return DurabilityUnknown
	}
	d := DurabilityAOFAlways
	for _, s := range p.Servers {
		d = min(d, s.Durability())
	}
	return d
}

// String is one line for a log: the weakest durability, its risk, what to
// set when it is less than AOF with appendfsync everysec, a warning when a
// server may evict revocations, and each server's settings. For example:
//
//	Redis durability none: a restart of Redis forgets every revocation: logged-out tokens work again and spent refresh tokens refresh again, until they expire; set appendonly yes (appendfsync everysec or always) [127.0.0.1:6379: appendonly no, save "", maxmemory-policy noeviction (CONFIG GET)]
func (p Persistence) String() string {
	d := p.Durability()
	var b strings.Builder
	fmt.Fprintf(&b, "Redis durability %s: %s", d, d.Risk())
	if d < DurabilityAOFEverySec {
		var fixes []string
		for _, s := range p.Servers {
			if s.Durability() < DurabilityAOFEverySec {
				if f := s.fix(DurabilityAOFEverySec); !slices.Contains(fixes, f) {
					fixes = append(fixes, f)
				}
			}
		}
		if len(fixes) > 0 {
			b.WriteString("; " + strings.Join(fixes, "; "))
		}
	}
	for _, s := range p.Servers {
		if s.Evicts() {
			fmt.Fprintf(&b, "; %s has maxmemory-policy %s and may evict revocations when full (a revoked token then passes): set maxmemory-policy noeviction", s.Addr, s.MaxMemoryPolicy)
		}
	}
	b.WriteString(" [")
	for i, s := range p.Servers {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s.String())
	}
	b.WriteString("]")
	return b.String()
}

// Persistence reads the persistence settings of every primary the Store
// writes to: the server of a *redis.Client, the current primary of a
// Sentinel-managed one, each master of a *redis.ClusterClient. It uses
// CONFIG GET (appendonly, appendfsync, save, maxmemory-policy, maxmemory)
// and, on a server where CONFIG is renamed, disabled or denied, INFO
// (persistence and memory), which tells whether AOF is on but neither
// appendfsync nor the save rules: those are then [Unknown], never guessed.
//
// Like every call of the Store it returns by the end of ctx. When a server
// cannot be reached, or ctx ends first, the error wraps
// [guardian.ErrUnavailable]. It writes nothing.
func (s *Store) Persistence(ctx context.Context) (Persistence, error) {
	if err := ctx.Err(); err != nil {
		return Persistence{}, fmt.Errorf("%w: redisstore: persistence: %w", guardian.ErrUnavailable, err)
	}
	p, err := bounded(ctx, s.readPersistence)
	if err != nil {
		return Persistence{}, fmt.Errorf("%w: redisstore: persistence: %w", guardian.ErrUnavailable, err)
	}
	return p, nil
}

// Check reads the persistence of every primary (see [Store.Persistence])
// and returns nil when each is at least want, e.g.
// [DurabilityAOFEverySec]. Otherwise the error wraps [ErrNotDurable] and
// names each server that falls short, its settings and what to set. A
// setting that cannot be read counts as not meeting the requirement (see
// [ServerPersistence.Durability]). When Redis cannot be reached the error
// wraps [guardian.ErrUnavailable] instead.
//
// Call it when the app starts, and refuse to start on ErrNotDurable: [New]
// does no I/O, so it cannot check. The Store does not refuse revocations on
// a server that falls short: a revocation Redis holds in memory still
// protects until Redis restarts, while refusing it would leave the token
// valid at once.
func (s *Store) Check(ctx context.Context, want Durability) error {
	if want < DurabilityUnknown || want > DurabilityAOFAlways {
		return fmt.Errorf("redisstore: Check of an unknown durability %d", int(want))
	}
	p, err := s.Persistence(ctx)
	if err != nil {
		return err
	}
	if want > DurabilityUnknown && len(p.Servers) == 0 {
		return fmt.Errorf("%w: found no primary to check", ErrNotDurable)
	}
	var short []string
	for _, srv := range p.Servers {
		if d := srv.Durability(); d < want {
			short = append(short, fmt.Sprintf("%s: durability %s: %s; %s", srv, d, d.Risk(), srv.fix(want)))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("%w (want %s or better): %s", ErrNotDurable, want, strings.Join(short, "; "))
	}
	return nil
}

// readPersistence reads every primary's settings.
func (s *Store) readPersistence(ctx context.Context) (Persistence, error) {
	var p Persistence
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			sp, err := readServer(ctx, node, node.Options().Addr)
			mu.Lock()
			defer mu.Unlock()
			p.Servers = append(p.Servers, sp)
			return err
		})
		if err != nil {
			return Persistence{}, err
		}
		slices.SortFunc(p.Servers, func(a, b ServerPersistence) int { return strings.Compare(a.Addr, b.Addr) })
	case *redis.Client:
		addr := c.Options().Addr
		if addr == "FailoverClient" { // go-redis's placeholder: ask the server
			addr = ""
		}
		sp, err := readServer(ctx, c, addr)
		if err != nil {
			return Persistence{}, err
		}
		p.Servers = []ServerPersistence{sp}
	default:
		sp, err := readServer(ctx, s.client, "")
		if err != nil {
			return Persistence{}, err
		}
		p.Servers = []ServerPersistence{sp}
	}
	return p, nil
}

// configNames are the settings read with CONFIG GET, one command each (Redis
// 6 takes one pattern per CONFIG GET).
var configNames = []string{"appendonly", "appendfsync", "save", "maxmemory-policy", "maxmemory"}

// readServer reads one server's settings in one round trip; addr "" asks
// the server for its address (CLIENT INFO). A command the server refuses
// (an error reply) is skipped for the next source; any other error (the
// connection, ctx) is returned.
func readServer(ctx context.Context, c redis.Cmdable, addr string) (ServerPersistence, error) {
	pipe := c.Pipeline()
	var client *redis.ClientInfoCmd
	if addr == "" {
		client = pipe.ClientInfo(ctx)
	}
	configs := make([]*redis.MapStringStringCmd, len(configNames))
	for i, name := range configNames {
		configs[i] = pipe.ConfigGet(ctx, name)
	}
	// Two sections, two commands: Redis 6 takes one section per INFO.
	persistence, memory := pipe.Info(ctx, "persistence"), pipe.Info(ctx, "memory")
	_, _ = pipe.Exec(ctx) // each command's error is looked at below

	refused := func(err error) bool {
		var reply redis.Error
		return errors.As(err, &reply) && !errors.Is(err, redis.Nil)
	}
	// CLIENT INFO only names the server: its failure is never an error.
	all := []redis.Cmder{persistence, memory}
	for _, cmd := range configs {
		all = append(all, cmd)
	}
	for _, cmd := range all {
		if err := cmd.Err(); err != nil && !refused(err) {
			return ServerPersistence{Addr: addr}, err
		}
	}
	if client != nil && client.Err() == nil && client.Val() != nil {
		addr = client.Val().LAddr
	}

	s := ServerPersistence{Addr: addr, AppendOnly: Unknown, AppendFsync: Unknown, Save: Unknown, MaxMemoryPolicy: Unknown, MaxMemory: Unknown}
	fields := []*string{&s.AppendOnly, &s.AppendFsync, &s.Save, &s.MaxMemoryPolicy, &s.MaxMemory}
	for i, cmd := range configs {
		if cmd.Err() != nil {
			continue
		}
		if v, ok := cmd.Val()[configNames[i]]; ok {
			*fields[i] = v
			s.Source = "CONFIG GET"
		}
	}
	if s.Source == "" {
		// INFO tells whether AOF is on and the memory policy; not
		// appendfsync, nor the save rules.
		fromInfo := false
		if persistence.Err() == nil {
			if v, ok := infoField(persistence.Val(), "aof_enabled"); ok {
				fromInfo = true
				switch v {
				case "1":
					s.AppendOnly = "yes"
				case "0":
					s.AppendOnly = "no"
				}
			}
		}
		if memory.Err() == nil {
			if v, ok := infoField(memory.Val(), "maxmemory_policy"); ok {
				fromInfo, s.MaxMemoryPolicy = true, v
			}
			if v, ok := infoField(memory.Val(), "maxmemory"); ok {
				fromInfo, s.MaxMemory = true, v
			}
		}
		if fromInfo {
			s.Source = "INFO"
		}
	}
	return s, nil
}

// infoField returns the value of name in an INFO reply.
func infoField(info, name string) (string, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v, true
		}
	}
	return "", false
}
