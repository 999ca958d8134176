package lifecycle

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// WaitEngaged is `apinet-hub onboard --wait`: it watches the profile key
// (WaitForProfile) until the hub reports it Engaged for its current
// generation, writing to out each new reason and message of the hub's
// Engaged condition as it comes, and a last line once engaged. If ctx ends
// first, the error names limit (the caller's deadline, for the message) and
// the last reason seen.
func WaitEngaged(ctx context.Context, hub client.WithWatch, key types.NamespacedName, limit time.Duration, out io.Writer) error {
	last := "no " + clusterprofiles.ConditionEngaged + " condition yet (is apinet-hub running and watching namespace " + key.Namespace + "?)"
	printed := ""
	err := WaitForProfile(ctx, hub, key, func(cp *clusterinventoryv1alpha1.ClusterProfile) (bool, error) {
		c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
		if c == nil {
			return false, nil
		}
		last = c.Reason + ": " + c.Message
		if c.Status == metav1.ConditionTrue && c.ObservedGeneration == cp.Generation {
			fmt.Fprintf(out, "clusterprofile %s engaged: %s\n", key, c.Message)
			return true, nil
		}
		if last != printed {
			fmt.Fprintf(out, "clusterprofile %s: %s\n", key, last)
			printed = last
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("clusterprofile %s is not Engaged after %s: %s", key, limit, last)
	}
	return err
}
