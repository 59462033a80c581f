package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/guardian-go/guardian"
)

// FuzzParseFeedMessage: any payload gives a record, nothing, or an error,
// never a panic; a record is valid, and a well-formed message of each kind
// reads back as written.
func FuzzParseFeedMessage(f *testing.F) {
	s := &Store{prefix: DefaultKeyPrefix}
	f.Add("3600000\n1700000000\nguardian:jti:abc")
	f.Add("-1\n1700000000 0011223344556677\nguardian:jti:x\ny")
	f.Add("5\nnot-a-number\nguardian:sub:alice")
	f.Add("-2\n1\nguardian:fam:f")
	f.Add("probe 0 1")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, payload string) {
		r, ok, err := s.parseFeedMessage(payload)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if ok {
			if verr := r.Validate(); verr != nil {
				t.Fatalf("parsed an invalid revocation %+v: %v", r, verr)
			}
		}
	})
}

func TestParseFeedMessageKinds(t *testing.T) {
	s := &Store{prefix: "p:"}
	for _, tt := range []struct {
		payload string
		want    guardian.Revocation
		ok      bool
	}{
		{"1500\n1700000000\np:jti:a\nb", guardian.Revocation{Kind: guardian.ByToken, ID: "a\nb", At: time.Unix(1700000000, 0), TTL: 1500 * time.Millisecond}, true},
		{"1500\n1700000000 00ff\np:jti:c", guardian.Revocation{Kind: guardian.ByToken, ID: "c", At: time.Unix(1700000000, 0), TTL: 1500 * time.Millisecond}, true},
		{"-1\n42\np:sub:alice", guardian.Revocation{Kind: guardian.BySubject, ID: "alice", At: time.Unix(42, 0), TTL: guardian.MaxRevocationTTL}, true},
		{"9\n42\np:fam:f", guardian.Revocation{Kind: guardian.ByFamily, ID: "f", At: time.Unix(42, 0), TTL: 9 * time.Millisecond}, true},
		{"-2\n42\np:fam:f", guardian.Revocation{}, false},
		{"9\n42\np:rpl:proof", guardian.Revocation{}, false},
		{"9\n42\nq:jti:other-prefix", guardian.Revocation{}, false},
	} {
		got, ok, err := s.parseFeedMessage(tt.payload)
		if err != nil || ok != tt.ok || (ok && (got.Kind != tt.want.Kind || got.ID != tt.want.ID || !got.At.Equal(tt.want.At) || got.TTL != tt.want.TTL)) {
			t.Errorf("parseFeedMessage(%q) = %+v, %v, %v; want %+v, %v", tt.payload, got, ok, err, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"", "1\n2", "x\n1\np:jti:a", "1\nx\np:jti:a", "-3\n1\np:jti:a"} {
		if _, ok, err := s.parseFeedMessage(bad); err == nil || ok {
			t.Errorf("parseFeedMessage(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
	if n, err := parseProbe(probePayload(2, 7), 2); err != nil || n != 7 {
		t.Errorf("parseProbe = %d, %v", n, err)
	}
	if n, err := parseProbe(probePayload(1, 7), 2); err != nil || n != 0 {
		t.Errorf("parseProbe of another node's probe = %d, %v", n, err)
	}
	for _, bad := range []string{"probe ", "probe x 1", "probe 1 x", "probe 1"} {
		if _, err := parseProbe(bad, 1); err == nil {
			t.Errorf("parseProbe(%q) accepted", bad)
		}
	}
}

func TestParseClusterNodes(t *testing.T) {
	text := "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7102@17102 master - 0 1426238317239 2 connected 5461-10922\n" +
		"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460 [5461->-07c3]\n" +
		"292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:7103@17103 master - 0 1426238316232 3 connected 10923-16383\n" +
		"6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:7105@17105 slave 07c37dfeb235213a872192d90877d0cd55635b91 0 1426238316232 5 connected\n" +
		"824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:7107@17107 master - 0 1426238316232 7 connected\n"
	masters, slots, migrating := parseClusterNodes(text)
	if len(masters) != 3 || !migrating || !strings.Contains(slots, "127.0.0.1:7101 0-5460") {
		t.Errorf("parseClusterNodes = %v, %q, %v", masters, slots, migrating)
	}
}
