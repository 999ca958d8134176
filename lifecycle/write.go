package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// WriteOptions are how `apinet-hub onboard` (and each cluster of onboard
// -f) writes an Onboarding.
type WriteOptions struct {
	// FieldManager owns what is applied on the hub; Force takes over
	// fields other managers own (--force-conflicts).
	FieldManager string
	Force        bool
	// SkipChecks skips Check and Guard's reach of the cluster (never the
	// rest of Guard).
	SkipChecks bool
	// ServiceAccount, if set, gives the hub a token of its own
	// ServiceAccount in the cluster (--create-service-account).
	ServiceAccount *ServiceAccountCredentials
	// Timeout bounds the revocation of a token after a failure, which gets
	// a deadline of its own (the run's may be what ended).
	Timeout time.Duration
}

// Write onboards o: first Guard, so that nothing is written over what is
// not the profile's; then Check (unless SkipChecks) with cluster, the
// caller's config; for a ServiceAccount, its objects and token (Provide)
// and the token's own check of the role; then Apply on the hub. A token
// made for an onboarding that is not written is revoked again, and one that
// replaces a stored token revokes it once written. hubHost names the hub in
// errors.
func (o *Onboarding) Write(ctx context.Context, hub client.Client, hubHost string, cluster *rest.Config, opts WriteOptions) ([]Applied, error) {
	reach := cluster
	if opts.SkipChecks {
		reach = nil
	}
	if err := o.Guard(ctx, hub, reach); err != nil {
		return nil, err
	}
	if !opts.SkipChecks {
		if err := o.Check(ctx, hub, hubHost, cluster); err != nil {
			return nil, err
		}
	}
	if opts.ServiceAccount == nil {
		return o.apply(ctx, hub, hubHost, opts)
	}
	token, err := opts.ServiceAccount.Provide(ctx, hub, cluster, o)
	if err != nil {
		return nil, err
	}
	revoke := func(do func(context.Context) error) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Timeout)
		defer cancel()
		return do(rctx)
	}
	if err := CheckClusterRole(ctx, token.Config, clusterprofiles.Role(o.Labels[clusterprofiles.LabelRole])); err != nil {
		return nil, errors.Join(fmt.Errorf("the hub's token: %w", err), revoke(token.Abandon))
	}
	applied, err := o.apply(ctx, hub, hubHost, opts)
	if err != nil && !slices.ContainsFunc(applied, func(a Applied) bool { return a.Kind == "secret" }) {
		return applied, errors.Join(err, revoke(token.Abandon))
	}
	// The Secret holds the new token: the one it replaced goes.
	return applied, errors.Join(err, revoke(token.Commit))
}

// apply is Apply, its errors naming the hub.
func (o *Onboarding) apply(ctx context.Context, hub client.Client, hubHost string, opts WriteOptions) ([]Applied, error) {
	applied, err := o.Apply(ctx, hub, opts.FieldManager, opts.Force)
	if err != nil {
		if apierrors.IsConflict(err) {
			err = fmt.Errorf("%w (other field managers own these fields; --force-conflicts takes them over)", err)
		}
		return applied, fmt.Errorf("hub at %s: %w", hubHost, err)
	}
	return applied, nil
}
