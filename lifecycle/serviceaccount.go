package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
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
// or a changed server or context, gets a new one. previous is the anchor of
// the token the Secret holds for this ServiceAccount (empty if none): what a
// new token replaces.
func (s ServiceAccountCredentials) Stored(ctx context.Context, hub client.Client, o *Onboarding) (cfg *rest.Config, previous types.NamespacedName, err error) {
	secret := &corev1.Secret{}
	if err := hub.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: CredentialSecretName(o.Name)}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, previous, nil
		}
		return nil, previous, fmt.Errorf("get Secret %s/%s: %w", o.Namespace, CredentialSecretName(o.Name), err)
	}
	if access, anchor, err := tokenOf(secret); err == nil && access.Namespace == s.Access.Namespace && access.Name == s.Access.Name {
		previous = anchor
	}
	data, annotations, ok := StoredToken(secret, s.Kubeconfig, s.Context, s.Access)
	if !ok {
		return nil, previous, nil
	}
	cfg, err = clusterprofiles.RESTConfigFromSecretKubeconfig(data)
	if err != nil {
		return nil, previous, nil
	}
	cfg.Timeout = s.Timeout
	if err := CheckClusterRole(ctx, cfg, s.Access.Role); apierrors.IsUnauthorized(err) {
		return nil, previous, nil // revoked or expired: a new one
	}
	o.Kubeconfig, o.CredentialAnnotations = data, annotations
	return cfg, previous, nil
}

// ProvidedToken is the token Provide put into an Onboarding. Once the
// onboarding is written, Commit revokes the token a new one replaced; if it
// is not, Abandon revokes the new one: either way no token onboard made
// stays valid unstored.
type ProvidedToken struct {
	// Config reaches the cluster with the token.
	Config *rest.Config
	// Minted is the new token (nil: the stored one was kept), Replaced the
	// anchor of the stored token it replaces (empty if none).
	Minted   *Token
	Replaced types.NamespacedName
	caller   client.Client
	out      io.Writer
}

// Commit revokes the replaced token, now that the new one is stored.
func (p *ProvidedToken) Commit(ctx context.Context) error {
	if p.Minted == nil || p.Replaced.Name == "" || p.Replaced == p.Minted.Anchor {
		return nil
	}
	if err := RevokeToken(ctx, p.caller, p.Replaced); err != nil {
		return fmt.Errorf("revoke the token the new one replaces (delete its anchor %s): %w", p.Replaced, err)
	}
	fmt.Fprintf(p.out, "the token it replaces is revoked (anchor secret %s deleted)\n", p.Replaced)
	return nil
}

// Abandon revokes the new token, which was not stored.
func (p *ProvidedToken) Abandon(ctx context.Context) error {
	if p.Minted == nil {
		return nil
	}
	if err := RevokeToken(ctx, p.caller, p.Minted.Anchor); err != nil {
		return fmt.Errorf("revoke the token made for nothing (delete its anchor %s): %w", p.Minted.Anchor, err)
	}
	fmt.Fprintf(p.out, "the token made is revoked again (anchor secret %s deleted): nothing was stored\n", p.Minted.Anchor)
	return nil
}

// Provide puts the hub's credentials into o. With the caller's config it
// applies the hub's access objects in the cluster (so that a run of a newer
// onboard updates the ClusterRole), then keeps the token already stored in
// o's credential Secret if Stored keeps it, else issues a new one. A run of
// onboard, or of onboard -f, thus mints no token while the stored one
// works, and the caller Commits or Abandons what it returns, so that no
// token it made stays valid beside the stored one: `apinet-hub rotate`
// replaces a token and revokes the old one.
func (s ServiceAccountCredentials) Provide(ctx context.Context, hub client.Client, callerCfg *rest.Config, o *Onboarding) (*ProvidedToken, error) {
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
	stored, previous, err := s.Stored(ctx, hub, o)
	if err != nil {
		return nil, err
	}
	provided := &ProvidedToken{Config: stored, Replaced: previous, caller: c, out: out}
	if stored != nil {
		fmt.Fprintf(out, "token of serviceaccount %s/%s kept: the stored one still works (bound to secret %s; apinet-hub rotate %s replaces it)\n",
			s.Access.Namespace, s.Access.Name, o.CredentialAnnotations[AnnotationTokenAnchor], o.Name)
		return provided, nil
	}
	token, err := s.Access.IssueToken(ctx, c, s.Expiration)
	if err != nil {
		return nil, describe(err)
	}
	provided.Minted = token
	fmt.Fprintf(out, "token of serviceaccount %s/%s made, bound to secret %s, valid until %s\n", s.Access.Namespace, s.Access.Name, token.Anchor, token.Expires.UTC().Format(time.RFC3339))
	data, err := TokenKubeconfig(s.Kubeconfig, s.Context, token.Value)
	if err == nil {
		provided.Config, err = clusterprofiles.RESTConfigFromSecretKubeconfig(data)
	}
	if err != nil {
		return nil, errors.Join(err, provided.Abandon(ctx))
	}
	o.Kubeconfig = data
	o.CredentialAnnotations = TokenAnnotations(s.Access, token)
	provided.Config.Timeout = s.Timeout
	return provided, nil
}
