package guardian_test

import (
	"testing"

	"github.com/guardian-go/guardian"
	"github.com/guardian-go/guardian/replaytest"
)

// TestMemoryReplayCacheConformance runs the ReplayCache conformance suite
// against one MemoryReplayCache shared by every subtest, and against one
// per subtest.
func TestMemoryReplayCacheConformance(t *testing.T) {
	t.Run("Shared", func(t *testing.T) {
		t.Parallel()
		shared := guardian.NewMemoryReplayCache(0)
		replaytest.Run(t, func(*testing.T) guardian.ReplayCache { return shared })
	})
	t.Run("PerSubtest", func(t *testing.T) {
		t.Parallel()
		replaytest.Run(t, func(*testing.T) guardian.ReplayCache { return guardian.NewMemoryReplayCache(1024) })
	})
}

// TestMemoryReplayCacheAcrossInstances: one MemoryReplayCache behind two
// handles is one cache, as the suite's cross-instance check asks. (Two
// instances of a service each with its own MemoryReplayCache are not: that
// is why a shared store is needed for them.)
func TestMemoryReplayCacheAcrossInstances(t *testing.T) {
	c := guardian.NewMemoryReplayCache(0)
	replaytest.RunAcrossInstances(t, c, c)
}
