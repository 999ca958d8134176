package reconcilers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// AppliedMemo lets the external tests drive the applied memo directly.
type AppliedMemo = appliedMemo

// NewAppliedMemo returns an empty memo of at most limit entries per member.
func NewAppliedMemo(limit int) *AppliedMemo {
	return newAppliedMemo(limit)
}

// Len is the number of entries of a member.
func (a *appliedMemo) Len(m *clusterprofiles.Member) int {
	mm := a.of(m)
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return len(mm.entries)
}

// Apply is what every reconciler's apply does.
func (a *appliedMemo) Apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	return a.apply(ctx, m, obj, fieldManager)
}
