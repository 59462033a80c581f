package main

import (
	"strings"
	"testing"
)

const sampleCSV = `goos: linux
goarch: amd64
pkg: github.com/guardian-go/guardian/benchmarks
cpu: AMD EPYC
,bench.txt,
,sec/op,CI
Chain/guardian/HS256-2,2e-06,3%
Chain/golangjwt/HS256-2,1e-05,1%
Chain/floor/HS256-2,1e-06,2%
Chain/guardian/ES256-2,5.2e-05,1%
Chain/golangjwt/ES256-2,6e-05,1%
Chain/floor/ES256-2,5e-05,1%
MemoryRevoked-2,5e-08,1%
geomean,4e-06,

,bench.txt,
,B/op,CI
Chain/guardian/HS256-2,512,0%
Chain/golangjwt/HS256-2,3928.5,0%
Chain/floor/HS256-2,208,0%
Chain/guardian/ES256-2,900,0%
Chain/golangjwt/ES256-2,4800,0%
Chain/floor/ES256-2,784,0%
MemoryRevoked-2,0,0%
geomean,,

,bench.txt,
,allocs/op,CI
Chain/guardian/HS256-2,8,0%
Chain/golangjwt/HS256-2,66,0%
Chain/floor/HS256-2,4,0%
Chain/guardian/ES256-2,20,0%
Chain/golangjwt/ES256-2,83,0%
Chain/floor/ES256-2,14,0%
MemoryRevoked-2,0,0%
geomean,,
`

// sampleRaw is three rounds; the per-round ratios of guardian to
// golangjwt are 0.2, 0.1 and 0.5, the differences of guardian to floor
// in ES256 1, 3 and 2 µs.
const sampleRaw = `goos: linux
BenchmarkChain/guardian/HS256-2   	  100	  2000 ns/op	  512 B/op	  8 allocs/op
BenchmarkChain/golangjwt/HS256-2   	  100	  10000 ns/op
BenchmarkChain/guardian/ES256-2   	  100	  51000 ns/op
BenchmarkChain/floor/ES256-2   	  100	  50000 ns/op
--- SKIP: BenchmarkChain/auth0/EdDSA
    bench_test.go:27: excluded: fails checks: ["expired: got 200, want it refused"]
--- SKIP: BenchmarkChain/auth0
PASS
goos: linux
BenchmarkChain/guardian/HS256-2   	  100	  2000 ns/op
BenchmarkChain/golangjwt/HS256-2   	  100	  20000 ns/op
BenchmarkChain/guardian/ES256-2   	  100	  53000 ns/op
BenchmarkChain/floor/ES256-2   	  100	  50000 ns/op
--- SKIP: BenchmarkChain/auth0/EdDSA
    bench_test.go:27: excluded: fails checks: ["expired: got 200, want it refused"]
PASS
goos: linux
BenchmarkChain/guardian/HS256-2   	  100	  5000 ns/op
BenchmarkChain/golangjwt/HS256-2   	  100	  10000 ns/op
BenchmarkChain/guardian/ES256-2   	  100	  52000 ns/op
BenchmarkChain/floor/ES256-2   	  100	  50000 ns/op
PASS
`

func TestTable(t *testing.T) {
	s, err := readStats(strings.NewReader(sampleCSV))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readRaw(strings.NewReader(sampleRaw))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.rounds) != 3 {
		t.Fatalf("got %d rounds, want 3", len(raw.rounds))
	}
	var out strings.Builder
	tab := table{stats: s, ref: "golangjwt", floor: "floor", self: "guardian", baseline: "none", skips: raw.skips, rounds: raw.rounds}
	if err := tab.write(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| **guardian** | HS256 | 2,000 | ±3% | 512 | 8 | 0.20 | 2.00 |",
		"| golangjwt | HS256 | 10,000 | ±1% | 3,928 | 66 | 1.00 | 10.00 |",
		"| floor | ES256 | 50,000 | ±1% | 784 | 14 | 0.83 | 1.00 |",
		"- `Chain/auth0/EdDSA`: excluded: fails checks: [\"expired: got 200, want it refused\"]\n",
		"HS256 full chain ≤ 0.35× golangjwt and ≤ 12 allocs/op: 0.20× (0.20×), 8 allocs/op — met",
		"ES256 ≤ floor + 3 µs: floor + 2.0 µs (floor + 2.0 µs) — met",
		"ES256 faster than every peer — met",
		"memory revocation check ≤ 100 ns and 0 allocs: 50.0 ns, 0 allocs/op — met",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; got:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "Chain/auth0/EdDSA"); n != 1 {
		t.Errorf("skip listed %d times, want once:\n%s", n, got)
	}
}

func TestGroupThousands(t *testing.T) {
	for in, want := range map[string]string{"1": "1", "123": "123", "1234": "1,234", "123456": "123,456", "1234567": "1,234,567"} {
		if got := groupThousands(in); got != want {
			t.Errorf("groupThousands(%s): got %s, want %s", in, got, want)
		}
	}
}
