// Package testclock gives the tests of every module one notion of "now"
// that can be moved away from the machine's date, to prove that no test
// (and no code under test) depends on today's date or mixes a fake clock
// with the wall clock.
//
// GUARDIAN_TEST_CLOCK_OFFSET, a Go duration such as "+8760h" or "-8760h",
// shifts [Now]; scripts/test.sh runs the suites with it set both ways.
// Only tests read it. Fixtures take their instants from Now (or from a
// fake clock started at Now); code under test keeps its own default clock,
// which stays on the machine's time, so a shifted run puts every fixture a
// year away from every store's clock.
package testclock

import (
	"fmt"
	"os"
	"time"
)

// EnvOffset names the variable that shifts [Now].
const EnvOffset = "GUARDIAN_TEST_CLOCK_OFFSET"

var offset = mustOffset()

func mustOffset() time.Duration {
	v := os.Getenv(EnvOffset)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// A test run with a typo in its offset must not silently run
		// unshifted.
		panic(fmt.Sprintf("testclock: %s=%q: %v", EnvOffset, v, err))
	}
	return d
}

// Offset returns the shift of [Now] from the machine's clock.
func Offset() time.Duration { return offset }

// Now returns the machine's time shifted by GUARDIAN_TEST_CLOCK_OFFSET.
func Now() time.Time { return time.Now().Add(offset) }
