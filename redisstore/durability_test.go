package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/internal/testclock"
	"github.com/guardian-go/guardian/redisstore"
	"github.com/guardian-go/guardian/revokertest"
	"github.com/redis/go-redis/v9"
)

// TestPersistence reads the settings of redis-servers started with each
// kind of persistence, and checks what Check requires of them, CONFIG GET
// renamed away (as managed services do) included: then INFO tells whether
// AOF is on, and what it cannot tell is Unknown.
func TestPersistence(t *testing.T) {
	noConfig := []string{"--rename-command", "CONFIG", ""}
	for _, tt := range []struct {
		name string
		args []string
		want redisstore.ServerPersistence // Addr and Source aside
		// source is where the settings come from.
		source string
		// durability is the classification; accepts and refuses are
		// requirements Check must let pass and refuse.
		durability redisstore.Durability
		accepts    []redisstore.Durability
		refuses    []redisstore.Durability
		// fix is in the error of the first refusal.
		fix string
	}{
		{
			name:       "Nothing",
			args:       []string{"--save", "", "--appendonly", "no"},
			want:       redisstore.ServerPersistence{AppendOnly: "no", AppendFsync: "everysec", Save: "", MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilityNone,
			accepts:    []redisstore.Durability{redisstore.DurabilityUnknown, redisstore.DurabilityNone},
			refuses:    []redisstore.Durability{redisstore.DurabilitySnapshot, redisstore.DurabilityAOF, redisstore.DurabilityAOFEverySec},
			fix:        "set appendonly yes",
		},
		{
			name:       "RDB",
			args:       []string{"--save", "3600 1 300 100", "--appendonly", "no"},
			want:       redisstore.ServerPersistence{AppendOnly: "no", AppendFsync: "everysec", Save: "3600 1 300 100", MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilitySnapshot,
			accepts:    []redisstore.Durability{redisstore.DurabilitySnapshot},
			refuses:    []redisstore.Durability{redisstore.DurabilityAOF},
			fix:        "set appendonly yes",
		},
		{
			name:       "AOFNo",
			args:       []string{"--save", "", "--appendonly", "yes", "--appendfsync", "no"},
			want:       redisstore.ServerPersistence{AppendOnly: "yes", AppendFsync: "no", Save: "", MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilityAOF,
			accepts:    []redisstore.Durability{redisstore.DurabilityAOF},
			refuses:    []redisstore.Durability{redisstore.DurabilityAOFEverySec},
			fix:        "set appendfsync everysec or always",
		},
		{
			name:       "AOFEverySec",
			args:       []string{"--appendonly", "yes", "--appendfsync", "everysec"},
			want:       redisstore.ServerPersistence{AppendOnly: "yes", AppendFsync: "everysec", Save: "3600 1 300 100 60 10000", MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilityAOFEverySec,
			accepts:    []redisstore.Durability{redisstore.DurabilitySnapshot, redisstore.DurabilityAOF, redisstore.DurabilityAOFEverySec},
			refuses:    []redisstore.Durability{redisstore.DurabilityAOFAlways},
			fix:        "set appendfsync always",
		},
		{
			name:       "AOFAlways",
			args:       []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"},
			want:       redisstore.ServerPersistence{AppendOnly: "yes", AppendFsync: "always", Save: "", MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilityAOFAlways,
			accepts:    []redisstore.Durability{redisstore.DurabilityAOFAlways},
		},
		{
			name:       "NoCONFIG,AOF",
			args:       slices.Concat([]string{"--appendonly", "yes", "--appendfsync", "everysec"}, noConfig),
			want:       redisstore.ServerPersistence{AppendOnly: "yes", AppendFsync: redisstore.Unknown, Save: redisstore.Unknown, MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "INFO",
			durability: redisstore.DurabilityAOF, // all that INFO can vouch for
			accepts:    []redisstore.Durability{redisstore.DurabilityAOF},
			refuses:    []redisstore.Durability{redisstore.DurabilityAOFEverySec},
			fix:        "appendfsync could not be read",
		},
		{
			name:       "NoCONFIG,NoAOF",
			args:       slices.Concat([]string{"--save", "", "--appendonly", "no"}, noConfig),
			want:       redisstore.ServerPersistence{AppendOnly: "no", AppendFsync: redisstore.Unknown, Save: redisstore.Unknown, MaxMemoryPolicy: "noeviction", MaxMemory: "0"},
			source:     "INFO",
			durability: redisstore.DurabilityUnknown, // snapshots or none: INFO cannot tell
			accepts:    []redisstore.Durability{redisstore.DurabilityUnknown},
			refuses:    []redisstore.Durability{redisstore.DurabilityNone, redisstore.DurabilitySnapshot},
			fix:        "could not be read",
		},
		{
			name:       "NoCONFIG,NoINFO",
			args:       slices.Concat([]string{"--rename-command", "INFO", ""}, noConfig),
			want:       redisstore.ServerPersistence{AppendOnly: redisstore.Unknown, AppendFsync: redisstore.Unknown, Save: redisstore.Unknown, MaxMemoryPolicy: redisstore.Unknown, MaxMemory: redisstore.Unknown},
			source:     "",
			durability: redisstore.DurabilityUnknown,
			accepts:    []redisstore.Durability{redisstore.DurabilityUnknown},
			refuses:    []redisstore.Durability{redisstore.DurabilityNone, redisstore.DurabilityAOF},
			fix:        "could not be read",
		},
		{
			name:       "Evicting",
			args:       []string{"--save", "", "--appendonly", "yes", "--maxmemory", "100mb", "--maxmemory-policy", "volatile-lru"},
			want:       redisstore.ServerPersistence{AppendOnly: "yes", AppendFsync: "everysec", Save: "", MaxMemoryPolicy: "volatile-lru", MaxMemory: "104857600"},
			source:     "CONFIG GET",
			durability: redisstore.DurabilityAOFEverySec,
			accepts:    []redisstore.Durability{redisstore.DurabilityAOFEverySec},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.args...)
			s := storeOf(t, srv.addr)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, err := s.Persistence(ctx)
			if err != nil {
				t.Fatalf("Persistence = %v", err)
			}
			if len(p.Servers) != 1 {
				t.Fatalf("Persistence found %d servers, want 1: %v", len(p.Servers), p)
			}
			got := p.Servers[0]
			if got.Addr != srv.addr || got.Source != tt.source {
				t.Errorf("Addr, Source = %q, %q; want %q, %q", got.Addr, got.Source, srv.addr, tt.source)
			}
			got.Addr, got.Source = "", ""
			if got != tt.want {
				t.Errorf("settings = %+v\nwant       %+v", got, tt.want)
			}
			if d := p.Durability(); d != tt.durability {
				t.Errorf("Durability = %v, want %v", d, tt.durability)
			}
			if evicts := tt.want.MaxMemoryPolicy == "volatile-lru"; got.Evicts() != evicts || strings.Contains(p.String(), "set maxmemory-policy noeviction") != evicts {
				t.Errorf("Evicts = %v, want %v; String = %s", got.Evicts(), evicts, p)
			}
			if !strings.Contains(p.String(), tt.durability.Risk()) {
				t.Errorf("String = %s\nwant it to hold the risk %q", p, tt.durability.Risk())
			}
			t.Logf("%s", p)
			for _, want := range tt.accepts {
				if err := s.Check(ctx, want); err != nil {
					t.Errorf("Check(%v) = %v, want nil", want, err)
				}
			}
			for i, want := range tt.refuses {
				err := s.Check(ctx, want)
				if !errors.Is(err, redisstore.ErrNotDurable) || errors.Is(err, guardian.ErrUnavailable) {
					t.Errorf("Check(%v) = %v, want an error wrapping ErrNotDurable", want, err)
					continue
				}
				if i == 0 {
					t.Logf("Check(%v): %v", want, err)
					if !strings.Contains(err.Error(), tt.fix) {
						t.Errorf("Check(%v) = %v\nwant it to say %q", want, err, tt.fix)
					}
				}
			}
		})
	}
}

// TestPersistenceSharedServer checks what Persistence reads on the shared
// test server against CONFIG GET, and that Check refuses it if, as on the
// test machines, it persists nothing.
func TestPersistenceSharedServer(t *testing.T) {
	s, client, _ := newStore(t, nil)
	ctx := context.Background()
	p, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", p)
	if len(p.Servers) != 1 {
		t.Fatalf("Persistence found %d servers, want 1", len(p.Servers))
	}
	got := p.Servers[0]
	if got.Addr != client.Options().Addr {
		t.Errorf("Addr = %q, want %q", got.Addr, client.Options().Addr)
	}
	for name, value := range map[string]string{"appendonly": got.AppendOnly, "appendfsync": got.AppendFsync, "save": got.Save} {
		want, err := client.ConfigGet(ctx, name).Result()
		if err != nil {
			t.Skipf("CONFIG GET %s: %v", name, err)
		}
		if value != want[name] {
			t.Errorf("%s = %q, CONFIG GET says %q", name, value, want[name])
		}
	}
	if p.Durability() == redisstore.DurabilityNone {
		if err := s.Check(ctx, redisstore.DurabilitySnapshot); !errors.Is(err, redisstore.ErrNotDurable) {
			t.Errorf("Check of a server that persists nothing = %v, want ErrNotDurable", err)
		}
	}
}

// TestPersistenceCluster checks that Persistence reads every master of a
// Cluster.
func TestPersistenceCluster(t *testing.T) {
	client := newClusterClient(t)
	top := clusterTopology(t, client)
	s, _ := newStoreOn(t, client, nil)
	p, err := s.Persistence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", p)
	var got, want []string
	for _, srv := range p.Servers {
		got = append(got, srv.Addr)
		if srv.Source != "CONFIG GET" {
			t.Errorf("%s: Source = %q, want CONFIG GET", srv.Addr, srv.Source)
		}
	}
	for _, m := range top.masters {
		want = append(want, m.addr)
	}
	if !slices.Equal(got, want) {
		t.Errorf("servers = %q, want the masters %q", got, want)
	}
}

// TestPersistenceSentinel checks that Persistence reads the primary behind
// a failover client, and names it.
func TestPersistenceSentinel(t *testing.T) {
	sn := newSentinels(t)
	primary, _, err := sn.healthy(t)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newStoreOn(t, sn.client(t), nil)
	p, err := s.Persistence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", p)
	if len(p.Servers) != 1 || p.Servers[0].Addr != primary || p.Servers[0].Source != "CONFIG GET" {
		t.Errorf("servers = %+v, want the primary %s, read with CONFIG GET", p.Servers, primary)
	}
}

// TestPersistenceUnavailable checks that Persistence and Check fail with
// ErrUnavailable, not ErrNotDurable, when Redis cannot be reached.
func TestPersistenceUnavailable(t *testing.T) {
	s := storeOf(t, "127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := s.Persistence(ctx); !errors.Is(err, guardian.ErrUnavailable) {
		t.Errorf("Persistence of an unreachable server = %v, want ErrUnavailable", err)
	}
	err := s.Check(ctx, redisstore.DurabilityAOF)
	if !errors.Is(err, guardian.ErrUnavailable) || errors.Is(err, redisstore.ErrNotDurable) {
		t.Errorf("Check of an unreachable server = %v, want ErrUnavailable and not ErrNotDurable", err)
	}
	if err := s.Check(context.Background(), redisstore.DurabilityAOFAlways+1); err == nil || errors.Is(err, redisstore.ErrNotDurable) {
		t.Errorf("Check of an unknown durability = %v, want an error of its own", err)
	}
}

// TestCrashRestart shows what each persistence setting means for a logout: a
// token is revoked and a refresh token consumed, then redis-server is
// killed (SIGKILL: a crash, no final save) and started again on the same
// files. Without persistence, and with RDB snapshots taken before the
// logout, the revoked token works again and the refresh token can be
// spent once more; with AOF both survive.
func TestCrashRestart(t *testing.T) {
	for _, tt := range []struct {
		name  string
		args  []string
		keeps bool
		// settle is how long to wait before the crash: everysec may hold
		// the last writes for up to two seconds (its stated risk).
		settle time.Duration
	}{
		{"Nothing", []string{"--save", "", "--appendonly", "no"}, false, 0},
		{"RDB", []string{"--save", "3600 1", "--appendonly", "no"}, false, 0},
		{"AOFEverySec", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}, true, 2500 * time.Millisecond},
		{"AOFAlways", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.args...)
			s := storeOf(t, srv.addr)
			ctx := context.Background()
			c := claims()
			revokertest.MustRevoke(t, s, guardian.Revocation{Kind: guardian.ByToken, ID: c.ID, At: testclock.Now(), TTL: time.Hour})
			spent := guardian.Revocation{Kind: guardian.ByToken, ID: revokertest.NewID("jti"), At: testclock.Now(), TTL: time.Hour}
			if first, err := s.Consume(ctx, spent); err != nil || !first {
				t.Fatalf("Consume of a fresh refresh token = %v, %v; want true, nil", first, err)
			}
			time.Sleep(tt.settle)
			srv.restart(t)
			revoked, err := s.Revoked(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.Consume(ctx, spent)
			if err != nil {
				t.Fatal(err)
			}
			if revoked != tt.keeps || again == tt.keeps {
				t.Errorf("after a crash and restart: Revoked of a revoked token = %v, Consume of a spent refresh token = %v; want %v, %v", revoked, again, tt.keeps, !tt.keeps)
			}
			p, err := s.Persistence(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("after the restart: revoked token revoked = %v, spent refresh token spent = %v; %s", revoked, !again, p)
		})
	}
}

// storeOf returns a Store on the server at addr, through a client closed
// when the test ends.
func storeOf(t *testing.T, addr string) *redisstore.Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	s, err := redisstore.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// server is a redis-server of one test, with files in a directory of its
// own that outlive a restart.
type server struct {
	addr string
	args []string
	dir  string
	run  *testRedis
	done chan struct{}
}

// startServer starts a redis-server with args (after --port, --bind and
// --dir) on a free loopback port, and kills it when the test ends. The
// test skips when redis-server is not installed, except in CI.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found (%v); CI must run the persistence tests", err)
		}
		t.Skipf("redis-server not found (%v); install it to run the persistence tests", err)
	}
	for range 5 { // another process may take the free port first
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		srv := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), args: args, dir: t.TempDir()}
		if srv.start(t) {
			return srv
		}
	}
	t.Fatal("redis-server did not start on a free port")
	return nil
}

// start runs the server and waits until it answers; false if it exited.
func (s *server) start(t *testing.T) bool {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	var out bytes.Buffer
	cmd := exec.Command("redis-server", slices.Concat([]string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--daemonize", "no"}, s.args)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.run, s.done = &testRedis{addr: s.addr, cmd: cmd}, make(chan struct{})
	done := s.done
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	if s.run.ready(done) {
		return true
	}
	cmd.Process.Kill()
	<-done
	t.Logf("redis-server %v: %s", s.args, out.String())
	return false
}

// restart kills the server (SIGKILL, as a crash: no final snapshot) and
// starts it again on the same port and files.
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.run.cmd.Process.Kill()
	<-s.done
	if !s.start(t) {
		t.Fatal("redis-server did not start again")
	}
}
