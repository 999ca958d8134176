package lifecycle

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// This file holds the checks `apinet-hub onboard` runs before it writes:
// that the hub can take the profile and that the cluster is what the
// profile says it is. Their errors name what the operator has to fix.

// roleGroupVersions is the API a cluster of each role serves.
var roleGroupVersions = map[clusterprofiles.Role]string{
	clusterprofiles.RoleIronCore: "networking.ironcore.dev/v1alpha1",
	clusterprofiles.RoleAPINet:   "core.apinet.ironcore.dev/v1alpha1",
}

// Check runs the checks before o is applied, after Guard: the hub
// namespace exists, the peer of an IronCore cluster is an onboarded apinet
// cluster, and the cluster (reached with cluster) serves the API of o's role
// (CheckClusterRole). hubHost names the hub in errors. The role and peer are
// o's labels (RoleLabels).
func (o *Onboarding) Check(ctx context.Context, hub client.Client, hubHost string, cluster *rest.Config) error {
	if err := hub.Get(ctx, client.ObjectKey{Name: o.Namespace}, &corev1.Namespace{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("hub namespace %q does not exist; create it first", o.Namespace)
		}
		return fmt.Errorf("check hub namespace %q: %w", o.Namespace, DescribeClusterError("hub", hubHost, err))
	}
	role := clusterprofiles.Role(o.Labels[clusterprofiles.LabelRole])
	if role == clusterprofiles.RoleIronCore {
		if err := checkPeer(ctx, hub, o.Namespace, o.Labels[clusterprofiles.LabelPeer]); err != nil {
			return err
		}
	}
	return CheckClusterRole(ctx, cluster, role)
}

// Guard runs, before anything is written and also with --skip-checks, the
// checks that keep onboard from writing over what is not the profile's:
// an existing profile of o's name belongs to o's cluster manager; an existing Secret of the credential Secret's name
// is that profile's for o's consumer (onboard would take it over, and
// offboard delete it); and, with cluster (nil: not reached), an existing
// profile that records its cluster's identity is reached by cluster, so
// that credentials of another cluster are never stored for it.
func (o *Onboarding) Guard(ctx context.Context, hub client.Client, cluster *rest.Config) error {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Name}, cp); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get ClusterProfile %s/%s: %w", o.Namespace, o.Name, err)
		}
		cp = nil
	}
	if cp != nil && cp.Spec.ClusterManager.Name != o.ClusterManager {
		// spec.clusterManager.name is immutable, and the profile is that
		// manager's to change.
		manager := cp.Spec.ClusterManager.Name
		return fmt.Errorf("ClusterProfile %s/%s belongs to cluster manager %q (spec.clusterManager.name cannot change); pass --cluster-manager %s to update it anyway, or pick another --name",
			o.Namespace, o.Name, manager, manager)
	}
	if len(o.AccessProviders) == 0 {
		name := CredentialSecretName(o.Name)
		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		err := hub.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: name}, secret)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("get Secret %s/%s: %w", o.Namespace, name, err)
		case secret.Labels[clusterprofiles.LabelSecretProfile] != o.Name || secret.Labels[clusterprofiles.LabelSecretConsumer] != o.consumer():
			return fmt.Errorf("Secret %s/%s exists and is not the credential Secret of ClusterProfile %s for consumer %s (labels %s=%q, %s=%q): onboard would take it over and offboard would delete it; move it away, or pick another --name",
				o.Namespace, name, o.Name, o.consumer(), clusterprofiles.LabelSecretProfile, secret.Labels[clusterprofiles.LabelSecretProfile],
				clusterprofiles.LabelSecretConsumer, secret.Labels[clusterprofiles.LabelSecretConsumer])
		}
	}
	if cluster == nil || cp == nil {
		return nil
	}
	pinned := clusterprofiles.PinnedIdentity(cp)
	if pinned == "" {
		return nil
	}
	_, _, err := provenConfigClient(ctx, cluster, pinned, clusterprofiles.Role(o.Labels[clusterprofiles.LabelRole]),
		fmt.Sprintf("the credentials given for ClusterProfile %s/%s", o.Namespace, o.Name))
	if err != nil {
		return fmt.Errorf("%w; onboard writes nothing (another --cluster-context?)", err)
	}
	return nil
}

// checkPeer makes sure the peer profile is there and is an apinet cluster.
func checkPeer(ctx context.Context, hub client.Client, namespace, peer string) error {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: namespace, Name: peer}, cp); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("peer ClusterProfile %s/%s does not exist; onboard the apinet cluster first (apinet-hub onboard --role %s --name %s)",
				namespace, peer, clusterprofiles.RoleAPINet, peer)
		}
		return fmt.Errorf("get peer ClusterProfile %s/%s: %w", namespace, peer, err)
	}
	switch a, _ := clusterprofiles.Recorded(cp); {
	case a.Role == string(clusterprofiles.RoleAPINet):
	case a.Paired:
		return fmt.Errorf("peer ClusterProfile %s/%s has role %q from the hub's pairing (status property %s); a peer must have role %s",
			namespace, peer, a.Role, clusterprofiles.PropertyRole, clusterprofiles.RoleAPINet)
	default:
		return fmt.Errorf("peer ClusterProfile %s/%s has label %s=%q; a peer must have role %s",
			namespace, peer, clusterprofiles.LabelRole, a.Role, clusterprofiles.RoleAPINet)
	}
	return nil
}

// CheckClusterRole reaches the cluster of cfg and makes sure it serves the
// API of role; a cluster that serves the other role's API, or neither, is
// "wrong role", naming what it serves. Discovery is bounded by what is left
// of ctx's deadline. A failed request is worded by DescribeClusterError and
// wraps the API error (apierrors.IsUnauthorized still tells a rejected
// token).
func CheckClusterRole(ctx context.Context, cfg *rest.Config, role clusterprofiles.Role) error {
	// Discovery takes no context: bound it by what is left of the deadline.
	cfg = rest.CopyConfig(cfg)
	if deadline, ok := ctx.Deadline(); ok {
		if cfg.Timeout = time.Until(deadline); cfg.Timeout <= 0 {
			return fmt.Errorf("cluster at %s is unreachable: %w", cfg.Host, context.DeadlineExceeded)
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cluster at %s: %w", cfg.Host, err)
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		return DescribeClusterError("cluster", cfg.Host, err)
	}
	return roleServed(cfg.Host, servedGroupVersions(groups), role)
}

// roleServed is CheckClusterRole's verdict on the group versions served
// by the cluster at host.
func roleServed(host string, served map[string]bool, role clusterprofiles.Role) error {
	want := roleGroupVersions[role]
	if served[want] {
		return nil
	}
	for other, gv := range roleGroupVersions {
		if other != role && served[gv] {
			return fmt.Errorf("wrong role: cluster at %s does not serve %s, the API of role %s; it serves %s, the API of role %s",
				host, want, role, gv, other)
		}
	}
	var ironcore []string
	for gv := range served {
		if strings.HasSuffix(strings.SplitN(gv, "/", 2)[0], "ironcore.dev") {
			ironcore = append(ironcore, gv)
		}
	}
	sort.Strings(ironcore)
	what := "no *.ironcore.dev API"
	if len(ironcore) > 0 {
		what = strings.Join(ironcore, ", ")
	}
	return fmt.Errorf("wrong role: cluster at %s does not serve %s, the API of role %s; it serves %s", host, want, role, what)
}

// servedGroupVersions is the set of group versions ("group/version") that
// groups lists.
func servedGroupVersions(groups *metav1.APIGroupList) map[string]bool {
	served := map[string]bool{}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			served[v.GroupVersion] = true
		}
	}
	return served
}

// DescribeClusterError words a failed request to a cluster (what: "hub" or
// "cluster", at host) by what the operator has to fix: credentials
// rejected, a request denied, a certificate not trusted, or else
// unreachable. It wraps err.
func DescribeClusterError(what, host string, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s at %s rejected the credentials: %w", what, host, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s at %s denies the credentials this request: %w", what, host, err)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return fmt.Errorf("%s at %s presents a certificate the kubeconfig does not trust: %w", what, host, err)
	default:
		return fmt.Errorf("%s at %s is unreachable: %w", what, host, err)
	}
}
