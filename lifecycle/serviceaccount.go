package lifecycle

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// ServiceAccountCredentials are the credentials `apinet-hub onboard
// --create-service-account` gives the hub: a token of the hub's
// ServiceAccount in the cluster being onboarded (ServiceAccountAccess),
// stored in the profile's credential Secret as a kubeconfig of the caller's
// cluster (TokenKubeconfig), never the caller's own credentials.
type ServiceAccountCredentials struct {
	// Access is the ServiceAccount, its namespace and the role it serves.
	Access ServiceAccountAccess
	// Kubeconfig is the caller's kubeconfig of the cluster and Context the
	// context of it onboarded ("" means its current context): the stored
	// kubeconfig keeps its cluster and replaces its user by the token.
	Kubeconfig *clientcmdapi.Config
	Context    string
	// FieldManager owns what Provide applies in the cluster.
	FieldManager string
	// Expiration is the lifetime asked for a new token (IssueToken).
	Expiration time.Duration
	// Timeout bounds each request of the returned configs.
	Timeout time.Duration
	// Out, if set, gets a line for each object Provide applies and for the
	// token it makes or keeps.
	Out io.Writer
}

// Stored is the config of the token already stored in o's credential
// Secret, put into o, if it can be kept (StoredToken) and the cluster still
// accepts it; nil if a new token is to be made. A revoked or expired token,
// or a changed server or context, gets a new one.
func (s ServiceAccountCredentials) Stored(ctx context.Context, hub client.Client, o *Onboarding) (*rest.Config, error) {
	secret := &corev1.Secret{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: CredentialSecretName(o.Name)}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Secret %s/%s: %w", o.Namespace, CredentialSecretName(o.Name), err)
	}
	data, annotations, ok := StoredToken(secret, s.Kubeconfig, s.Context, s.Access)
	if !ok {
		return nil, nil
	}
	cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(data)
	if err != nil {
		return nil, nil
	}
	cfg.Timeout = s.Timeout
	if err := CheckClusterRole(ctx, cfg, s.Access.Role); apierrors.IsUnauthorized(err) {
		return nil, nil // revoked or expired: a new one
	}
	o.Kubeconfig, o.CredentialAnnotations = data, annotations
	return cfg, nil
}

// Provide puts the hub's credentials into o. With the caller's config it
// applies the hub's access objects in the cluster (so that a run of a newer
// onboard updates the ClusterRole), then keeps the token already stored in
// o's credential Secret if Stored keeps it, else issues a new one. A run of
// onboard, or of onboard -f, thus mints no token and leaves no second one
// valid: `apinet-hub rotate` replaces a token and revokes the old one. It
// returns the config the checks reach the cluster with: the token's.
func (s ServiceAccountCredentials) Provide(ctx context.Context, hub client.Client, callerCfg *rest.Config, o *Onboarding) (*rest.Config, error) {
	out := s.Out
	if out == nil {
		out = io.Discard
	}
	c, err := client.New(callerCfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("cluster at %s: %w", callerCfg.Host, err)
	}
	describe := func(err error) error {
		return fmt.Errorf("create the hub's access in the cluster at %s: %w", callerCfg.Host, DescribeClusterError("cluster", callerCfg.Host, err))
	}
	if err := s.Access.ApplyObjects(ctx, c, s.FieldManager, func(kind, name string) {
		fmt.Fprintf(out, "%s %s applied in the cluster\n", strings.ToLower(kind), name)
	}); err != nil {
		return nil, describe(err)
	}
	stored, err := s.Stored(ctx, hub, o)
	if err != nil {
		return nil, err
	}
	if stored != nil {
		fmt.Fprintf(out, "token of serviceaccount %s/%s kept: the stored one still works (bound to secret %s; apinet-hub rotate %s replaces it)\n",
			s.Access.Namespace, s.Access.Name, o.CredentialAnnotations[AnnotationTokenAnchor], o.Name)
		return stored, nil
	}
	token, err := s.Access.IssueToken(ctx, c, s.Expiration)
	if err != nil {
		return nil, describe(err)
	}
	data, err := TokenKubeconfig(s.Kubeconfig, s.Context, token.Value)
	if err != nil {
		return nil, err
	}
	o.Kubeconfig = data
	o.CredentialAnnotations = TokenAnnotations(s.Access, token)
	fmt.Fprintf(out, "token of serviceaccount %s/%s made, bound to secret %s, valid until %s\n", s.Access.Namespace, s.Access.Name, token.Anchor, token.Expires.UTC().Format(time.RFC3339))
	cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(data)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = s.Timeout
	return cfg, nil
}
