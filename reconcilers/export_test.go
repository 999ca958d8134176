package reconcilers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// AppliedMemo lets the external tests drive the applied memo directly.
type AppliedMemo = appliedMemo

// NewAppliedMemo returns an empty memo.
func NewAppliedMemo() *AppliedMemo { return newAppliedMemo() }

// Apply is what every reconciler's apply does.
func (a *appliedMemo) Apply(ctx context.Context, m *clusterprofiles.Member, obj client.Object, fieldManager string) error {
	return a.apply(ctx, m, obj, fieldManager)
}
