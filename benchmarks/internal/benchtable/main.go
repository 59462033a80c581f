// Command benchtable turns benchstat's CSV output for BenchmarkChain into
// the markdown table of README.md: per algorithm and case, the median
// ns/op, B/op and allocs/op, and the ratios to the reference case and to
// the crypto floor. It also lists the cells that posted no number, from
// the raw benchmark output, and checks the targets of issue 5.
//
// Usage:
//
//	benchstat -format csv bench.txt > stats.csv
//	go run ./internal/benchtable stats.csv bench.txt
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	ref := flag.String("ref", "golangjwt", "the reference `case`")
	floor := flag.String("floor", "floor", "the crypto-floor `case`")
	self := flag.String("self", "guardian", "the `case` the targets are about")
	base := flag.String("baseline", "none", "the `case` without authentication, which is no peer")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: benchtable [flags] stats.csv [bench.txt]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		flag.Usage()
		os.Exit(2)
	}
	stats, err := readStatsFile(flag.Arg(0))
	if err != nil {
		fatal(err)
	}
	var raw rawResults
	if flag.NArg() == 2 {
		f, err := os.Open(flag.Arg(1))
		if err != nil {
			fatal(err)
		}
		raw, err = readRaw(f)
		f.Close()
		if err != nil {
			fatal(err)
		}
	}
	t := table{stats: stats, ref: *ref, floor: *floor, self: *self, baseline: *base, skips: raw.skips, rounds: raw.rounds}
	if err := t.write(os.Stdout); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(1)
}

// stat is benchstat's summary of one benchmark in one unit.
type stat struct {
	median float64 // in the unit: sec/op, B/op, allocs/op
	ci     string  // benchstat's confidence interval, e.g. "2%" or "∞"
}

// stats maps a benchmark name (without the -GOMAXPROCS suffix) and a unit
// to its summary.
type stats struct {
	byName map[string]map[string]stat
	order  []string // names in the order benchstat listed them
}

func (s *stats) get(name, unit string) (stat, bool) {
	st, ok := s.byName[name][unit]
	return st, ok
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

func readStatsFile(path string) (*stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readStats(f)
}

// readStats parses `benchstat -format csv` of one input file: blocks of
// ",<file>," then ",<unit>,CI" then "<name>,<value>,<ci>" rows. The
// configuration lines before the first block are skipped.
func readStats(r io.Reader) (*stats, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	s := &stats{byName: map[string]map[string]stat{}}
	unit := ""
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case len(rec) < 2:
			continue
		case rec[0] == "" && len(rec) >= 3 && rec[2] == "CI":
			unit = rec[1]
			continue
		case rec[0] == "" || unit == "" || rec[0] == "geomean" || rec[1] == "":
			continue
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", rec[0], unit, err)
		}
		name := procsSuffix.ReplaceAllString(rec[0], "")
		if s.byName[name] == nil {
			s.byName[name] = map[string]stat{}
			s.order = append(s.order, name)
		}
		st := stat{median: v}
		if len(rec) > 2 {
			st.ci = rec[2]
		}
		s.byName[name][unit] = st
	}
	if len(s.order) == 0 {
		return nil, errors.New("no benchmarks in the benchstat CSV")
	}
	return s, nil
}

// skip is a benchmark that posted no number, and why.
type skip struct{ name, reason string }

// rawResults is what the table needs from raw `go test -bench` output
// beyond benchstat's summary.
type rawResults struct {
	skips []skip
	// rounds holds ns/op by benchmark name, one map per run of the test
	// binary (each starts with a "goos:" line).
	rounds []map[string]float64
}

// readRaw finds "--- SKIP: BenchmarkX" lines, with the message logged
// under each, once per benchmark, and the ns/op of every round.
func readRaw(r io.Reader) (rawResults, error) {
	var res rawResults
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	cur := -1
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "goos:") || (len(res.rounds) == 0 && strings.HasPrefix(line, "Benchmark")) {
			res.rounds = append(res.rounds, map[string]float64{})
		}
		if name, ns, ok := parseBenchLine(line); ok {
			res.rounds[len(res.rounds)-1][name] = ns
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "--- SKIP: "); ok {
			name := strings.TrimPrefix(strings.Fields(rest)[0], "Benchmark")
			name = procsSuffix.ReplaceAllString(name, "")
			cur = -1
			if !seen[name] {
				seen[name] = true
				res.skips = append(res.skips, skip{name: name})
				cur = len(res.skips) - 1
			}
			continue
		}
		if cur >= 0 && strings.HasPrefix(line, "    ") {
			msg := strings.TrimSpace(line)
			// "file_test.go:12: message"
			if _, after, ok := strings.Cut(msg, ": "); ok && strings.Contains(msg[:len(msg)-len(after)], ".go:") {
				msg = after
			}
			if res.skips[cur].reason != "" {
				res.skips[cur].reason += " "
			}
			res.skips[cur].reason += msg
			continue
		}
		cur = -1
	}
	// A parent benchmark whose children all skipped is reported as
	// skipped too, without a message; keep only the leaves.
	var leaves []skip
	for _, s := range res.skips {
		if s.reason != "" {
			leaves = append(leaves, s)
		}
	}
	res.skips = leaves
	return res, sc.Err()
}

// parseBenchLine reads "BenchmarkName-2  1000  1234 ns/op ..." as the name
// without "Benchmark" and the -GOMAXPROCS suffix, and the ns/op.
func parseBenchLine(line string) (name string, ns float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", 0, false
	}
	for i := 2; i+1 < len(f); i++ {
		if f[i+1] == "ns/op" {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return "", 0, false
			}
			return procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""), v, true
		}
	}
	return "", 0, false
}

// paired returns the median over rounds of f(a, b), where a and b are the
// ns/op of two benchmarks in the same round: a comparison less exposed to
// a machine whose speed drifts between rounds than one of two medians.
func (t *table) paired(a, b string, f func(a, b float64) float64) (float64, bool) {
	var vs []float64
	for _, r := range t.rounds {
		va, ok1 := r[a]
		vb, ok2 := r[b]
		if ok1 && ok2 {
			vs = append(vs, f(va, vb))
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

type table struct {
	stats            *stats
	ref, floor, self string
	baseline         string
	skips            []skip
	rounds           []map[string]float64 // from the raw output; may be empty
}

// cell is one Chain/<case>/<alg> benchmark.
type cell struct {
	caseName, alg string
	ns            stat
	bytes, allocs stat
}

func (t *table) cells() (cells []cell, algs, caseNames []string) {
	for _, name := range t.stats.order {
		parts := strings.Split(name, "/")
		if len(parts) != 3 || parts[0] != "Chain" {
			continue
		}
		c := cell{caseName: parts[1], alg: parts[2]}
		sec, ok := t.stats.get(name, "sec/op")
		if !ok {
			continue
		}
		c.ns = stat{median: sec.median * 1e9, ci: sec.ci}
		c.bytes, _ = t.stats.get(name, "B/op")
		c.allocs, _ = t.stats.get(name, "allocs/op")
		cells = append(cells, c)
		if !slices.Contains(algs, c.alg) {
			algs = append(algs, c.alg)
		}
		if !slices.Contains(caseNames, c.caseName) {
			caseNames = append(caseNames, c.caseName)
		}
	}
	return cells, algs, caseNames
}

func find(cells []cell, caseName, alg string) (cell, bool) {
	for _, c := range cells {
		if c.caseName == caseName && c.alg == alg {
			return c, true
		}
	}
	return cell{}, false
}

func (t *table) write(w io.Writer) error {
	cells, algs, caseNames := t.cells()
	if len(cells) == 0 {
		return errors.New("no Chain/<case>/<alg> benchmarks in the input")
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "| case | alg | median ns/op | ± | B/op | allocs/op | × %s | × %s |\n", t.ref, t.floor)
	fmt.Fprintln(bw, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, alg := range algs {
		ref, hasRef := find(cells, t.ref, alg)
		fl, hasFloor := find(cells, t.floor, alg)
		for _, name := range caseNames {
			c, ok := find(cells, name, alg)
			if !ok {
				continue
			}
			toRef, toFloor := "–", "–"
			if hasRef && ref.ns.median > 0 {
				toRef = fmt.Sprintf("%.2f", c.ns.median/ref.ns.median)
			}
			if hasFloor && fl.ns.median > 0 {
				toFloor = fmt.Sprintf("%.2f", c.ns.median/fl.ns.median)
			}
			caseCell := c.caseName
			if c.caseName == t.self {
				caseCell = "**" + c.caseName + "**"
			}
			fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
				caseCell, c.alg, formatNs(c.ns.median), formatCI(c.ns.ci),
				formatCount(c.bytes.median), formatCount(c.allocs.median), toRef, toFloor)
		}
	}
	if len(t.skips) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "Not measured:")
		fmt.Fprintln(bw)
		for _, s := range t.skips {
			fmt.Fprintf(bw, "- `%s`: %s\n", s.name, s.reason)
		}
	}
	fmt.Fprintln(bw)
	t.writeTargets(bw, cells, algs, caseNames)
	return bw.Flush()
}

// writeTargets checks the measurable targets of issue 5 against this
// run's medians. Where the raw rounds are known, it also gives the paired
// estimate: the median over rounds of the per-round ratio or difference.
func (t *table) writeTargets(w io.Writer, cells []cell, algs, caseNames []string) {
	fmt.Fprintf(w, "Targets (issue 5), judged on the medians of this run")
	if len(t.rounds) > 0 {
		fmt.Fprintf(w, "; in brackets, the median of the per-round values")
	}
	fmt.Fprintf(w, ":\n\n")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	chain := func(caseName, alg string) string { return "Chain/" + caseName + "/" + alg }
	if c, ok := find(cells, t.self, "HS256"); ok {
		if ref, ok := find(cells, t.ref, "HS256"); ok {
			ratio := c.ns.median / ref.ns.median
			pairedNote := ""
			if v, ok := t.paired(chain(t.self, "HS256"), chain(t.ref, "HS256"), func(a, b float64) float64 { return a / b }); ok {
				pairedNote = fmt.Sprintf(" (%.2f×)", v)
			}
			fmt.Fprintf(w, "- HS256 full chain ≤ 0.35× %s and ≤ 12 allocs/op: %.2f×%s, %s allocs/op — %s\n",
				t.ref, ratio, pairedNote, formatCount(c.allocs.median), mark(ratio <= 0.35 && c.allocs.median <= 12))
		}
	}
	for _, alg := range algs {
		if alg == "HS256" {
			continue
		}
		c, ok1 := find(cells, t.self, alg)
		fl, ok2 := find(cells, t.floor, alg)
		if !ok1 || !ok2 {
			continue
		}
		over := c.ns.median - fl.ns.median
		pairedNote := ""
		if v, ok := t.paired(chain(t.self, alg), chain(t.floor, alg), func(a, b float64) float64 { return a - b }); ok {
			pairedNote = fmt.Sprintf(" (floor %s)", formatDelta(v))
		}
		fmt.Fprintf(w, "- %s ≤ floor + 3 µs: floor %s%s — %s\n", alg, formatDelta(over), pairedNote, mark(over <= 3000))
	}
	for _, alg := range algs {
		self, ok := find(cells, t.self, alg)
		if !ok {
			continue
		}
		var unbeaten []string
		for _, name := range caseNames {
			if name == t.self || name == t.floor || name == t.baseline || name == t.self+"-cached" {
				continue
			}
			if p, ok := find(cells, name, alg); ok && p.ns.median <= self.ns.median {
				unbeaten = append(unbeaten, name)
			}
		}
		verdict := "met"
		if len(unbeaten) > 0 {
			verdict = "**not met**: not faster than " + strings.Join(unbeaten, ", ")
		}
		fmt.Fprintf(w, "- %s faster than every peer — %s\n", alg, verdict)
	}
	for _, alg := range algs {
		cached, ok1 := find(cells, t.self+"-cached", alg)
		bare, ok2 := find(cells, t.baseline, alg)
		if !ok1 || !ok2 {
			continue
		}
		over := cached.ns.median - bare.ns.median
		pairedNote := ""
		if v, ok := t.paired(chain(t.self+"-cached", alg), chain(t.baseline, alg), func(a, b float64) float64 { return a - b }); ok {
			pairedNote = fmt.Sprintf(" (%s)", formatDelta(v))
		}
		fmt.Fprintf(w, "- %s repeated token with the verified-token cache ≤ 1 µs over no middleware: %s%s — %s\n", alg, formatDelta(over), pairedNote, mark(over <= 1000))
	}
	if st, ok := t.stats.get("MemoryRevoked", "sec/op"); ok {
		allocs, _ := t.stats.get("MemoryRevoked", "allocs/op")
		ns := st.median * 1e9
		fmt.Fprintf(w, "- memory revocation check ≤ 100 ns and 0 allocs: %s ns, %s allocs/op — %s\n",
			formatNs(ns), formatCount(allocs.median), mark(ns <= 100 && allocs.median == 0))
	}
}

func formatNs(ns float64) string {
	if ns >= 100 {
		return groupThousands(strconv.FormatFloat(ns, 'f', 0, 64))
	}
	return strconv.FormatFloat(ns, 'f', 1, 64)
}

// formatDelta writes a signed difference: "+ 1.2 µs", "− 300 ns".
func formatDelta(ns float64) string {
	sign := "+ "
	if ns < 0 {
		sign, ns = "− ", -ns
	}
	return sign + formatMagnitude(ns)
}

func formatMagnitude(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.1f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// formatCount writes a median count, rounded to a whole number from 100 on.
func formatCount(v float64) string {
	if v >= 100 || v == math.Trunc(v) {
		return groupThousands(strconv.FormatFloat(v, 'f', 0, 64))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func formatCI(ci string) string {
	if ci == "" || ci == "∞" {
		return "∞"
	}
	return "±" + ci
}

// groupThousands writes 12345 as 12,345.
func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for i := head; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}
