package providers

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"
)

// owners counts, for n members, how many each replica owns.
func owners(s sharder.Sharder, n int, ids ...string) map[string]int {
	var peers []sharder.PeerInfo
	for _, id := range ids {
		peers = append(peers, sharder.PeerInfo{ID: id, Weight: 1})
	}
	count := map[string]int{}
	for i := range n {
		member := fmt.Sprintf("fleet.m-%04d", i)
		for _, p := range peers {
			if s.ShouldOwn(member, peers, p) {
				count[p.ID]++
			}
		}
	}
	return count
}

func TestSharderSpreadsMembersEvenly(t *testing.T) {
	for _, ids := range [][]string{
		{"scale-0", "scale-1", "scale-2"},
		{"apinet-hub-7d9f6c-abcde", "apinet-hub-7d9f6c-xk2lq", "apinet-hub-7d9f6c-p0m3z"},
		{"a", "b"},
	} {
		const n = 600
		count := owners(Sharder(), n, ids...)
		total := 0
		for _, id := range ids {
			total += count[id]
			// A fair share ± 25 %.
			if fair := n / len(ids); count[id] < fair*3/4 || count[id] > fair*5/4 {
				t.Errorf("replicas %v: %s owns %d of %d members, a fair share is %d", ids, id, count[id], n, fair)
			}
		}
		if total != n {
			t.Errorf("replicas %v: %d owners for %d members, want exactly one each", ids, total, n)
		}
	}
	// The calibration: upstream's HRW skews the first set (its FNV-1a
	// mixes the last bytes poorly), which is why the hub has its own.
	if got := owners(sharder.NewHRW(), 200, "scale-0", "scale-1", "scale-2"); got["scale-2"] != 100 {
		t.Errorf("calibration: multicluster-runtime's HRW no longer gives scale-2 half of 200 members (%v): if it is fair now, the hub may use it again", got)
	}
}

func TestSharderMovesOnlyTheGoneReplicasMembers(t *testing.T) {
	three := []sharder.PeerInfo{{ID: "r0", Weight: 1}, {ID: "r1", Weight: 1}, {ID: "r2", Weight: 1}}
	two := three[:2]
	s := Sharder()
	for i := range 300 {
		member := fmt.Sprintf("fleet.m-%04d", i)
		for _, p := range two {
			if s.ShouldOwn(member, three, p) && !s.ShouldOwn(member, two, p) {
				t.Errorf("%s moved away from %s when r2 went", member, p.ID)
			}
		}
	}
}

func TestReplicaTTL(t *testing.T) {
	for lease, want := range map[time.Duration]time.Duration{
		15 * time.Second: 5 * time.Second, 6 * time.Second: 2 * time.Second, 3 * time.Second: 2 * time.Second, time.Minute: 20 * time.Second,
	} {
		if got := ReplicaTTL(lease); got != want {
			t.Errorf("ReplicaTTL(%s) = %s, want %s", lease, got, want)
		}
	}
}
