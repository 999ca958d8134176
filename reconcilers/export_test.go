package reconcilers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// AppliedMemo lets the external tests drive the applied memo directly.
type AppliedMemo = appliedMemo

// NewAppliedMemo returns an empty memo of at most limit entries that
// resolves members with member when it sweeps.
func NewAppliedMemo(member func(multicluster.ClusterName) (*clusterprofiles.Member, error), limit int) *AppliedMemo {
	return newAppliedMemo(member, limit)
}

// Len is the number of entries.
func (a *appliedMemo) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}

// Apply is what every reconciler's apply does.
func (a *appliedMemo) Apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	return a.apply(ctx, m, obj, fieldManager)
}
