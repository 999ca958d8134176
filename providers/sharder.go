package providers

import (
	"hash/fnv"

	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded/sharder"
)

// Sharder is the rendezvous hashing that gives each member to one replica,
// for the coordinator's fences and for the provider's share (Replicas.Owns)
// alike. multicluster-runtime v0.24.1's HRW (sharder.NewHRW) scores a
// member for a replica by FNV-1a of "<member>|<replica>" alone; FNV-1a mixes
// the last bytes of its input poorly, and replica IDs differ in their last
// bytes (a Deployment's pod names in their suffix), so the shares come out
// skewed: 200 members over replicas scale-0, -1, -2 went 50, 50, 100. This
// one finishes the same hash with murmur3's 64-bit finalizer (the same
// members go 74, 58, 68). Replicas of one fleet must all use it. Weights
// are not used: the hub's replicas all have weight 1.
func Sharder() sharder.Sharder { return balancedHRW{} }

type balancedHRW struct{}

func (balancedHRW) ShouldOwn(clusterID string, peers []sharder.PeerInfo, self sharder.PeerInfo) bool {
	if len(peers) == 0 {
		return true
	}
	var best sharder.PeerInfo
	var bestScore uint64
	for _, p := range peers {
		score := mix64(fnv64a(clusterID + "|" + p.ID))
		if score >= bestScore {
			best, bestScore = p, score
		}
	}
	return best.ID == self.ID
}

func fnv64a(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// mix64 is murmur3's fmix64: every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
