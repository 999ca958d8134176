package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Rotation replaces the token of a profile's credential Secret made by
// `onboard --create-service-account`:
//
//  1. it proves that the credentials it uses reach the cluster recorded on
//     the profile: the hub's stored ones (their Role lets the hub's
//     ServiceAccount mint its own next token), or the caller's (Caller);
//  2. it issues a new token bound to a new anchor Secret (IssueToken);
//  3. it swaps the token into the credential Secret;
//  4. it waits until the hub reports the profile Engaged on the new token
//     (its credential-expiry property is the new token's expiry);
//  5. it revokes the old token (deletes its anchor).
//
// A run that ends before 5 leaves the old token valid and the new one in
// use; running it again rotates once more and revokes only the token it
// replaces (the previous anchor stays until it expires).
type Rotation struct {
	Key        types.NamespacedName
	Consumer   string
	Expiration time.Duration
	// Caller, if set, is the caller's own config of the cluster.
	Caller *rest.Config
	// WithoutHub does not wait for the hub (step 4), for a fleet no hub
	// runs for.
	WithoutHub bool
	Out        io.Writer
}

// Run rotates the profile's token with the hub client hub.
func (r *Rotation) Run(ctx context.Context, hub client.WithWatch) (*Token, error) {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, r.Key, cp); err != nil {
		return nil, fmt.Errorf("get ClusterProfile %s: %w", r.Key, err)
	}
	profile, problem := clusterprofiles.ParseRecorded(cp)
	if problem != nil {
		return nil, fmt.Errorf("ClusterProfile %s: %s: %s", r.Key, problem.Reason, problem.Message)
	}
	secrets, err := credentialSecrets(ctx, hub, cp, r.Consumer)
	if err != nil {
		return nil, err
	}
	if len(secrets) != 1 {
		return nil, fmt.Errorf("ClusterProfile %s has %d credential Secrets (consumer %s): rotate needs exactly one", r.Key, len(secrets), r.Consumer)
	}
	secret := &secrets[0]
	access, oldAnchor, err := tokenOf(secret)
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	access.Role = profile.Role
	stored := secret.Data[clusterprofiles.SecretKeyConfig]
	cfg, what := r.Caller, "your credentials of the cluster"
	if cfg == nil {
		if cfg, err = clusterprofiles.RESTConfigFromSecretKubeconfig(stored); err != nil {
			return nil, fmt.Errorf("Secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		what = "the hub's stored credentials"
	}
	pinned := clusterprofiles.PinnedIdentity(cp)
	if pinned == "" {
		return nil, fmt.Errorf("ClusterProfile %s records no cluster identity (status property %s): the hub never engaged it, so rotate cannot prove which cluster %s reaches, and changes nothing",
			r.Key, clusterprofiles.PropertyClusterUID, what)
	}
	c, _, err := provenConfigClient(ctx, cfg, pinned, profile.Role, what)
	if err != nil {
		return nil, err
	}
	token, err := access.IssueToken(ctx, c, r.Expiration)
	if err != nil {
		if r.Caller == nil {
			err = fmt.Errorf("%w (onboarded before the hub could mint its own tokens? give your credentials of the cluster, --cluster-kubeconfig)", err)
		}
		return nil, err
	}
	fmt.Fprintf(r.Out, "token of serviceaccount %s/%s made, bound to secret %s, valid until %s\n", access.Namespace, access.Name, token.Anchor, token.Expires.UTC().Format(time.RFC3339))
	data, err := withToken(stored, token.Value)
	if err != nil {
		_ = RevokeToken(ctx, c, token.Anchor)
		return nil, err
	}
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	secret.Data[clusterprofiles.SecretKeyConfig] = data
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	for k, v := range TokenAnnotations(access, token) {
		secret.Annotations[k] = v
	}
	if err := hub.Patch(ctx, secret, patch); err != nil {
		_ = RevokeToken(ctx, c, token.Anchor)
		return nil, fmt.Errorf("swap the token into Secret %s/%s (the new token is revoked again): %w", secret.Namespace, secret.Name, err)
	}
	fmt.Fprintf(r.Out, "secret %s/%s holds the new token\n", secret.Namespace, secret.Name)
	if !r.WithoutHub {
		if err := waitReengaged(ctx, hub, r.Key, token.Expires); err != nil {
			return nil, fmt.Errorf("%w; the old token stays valid (anchor %s): run rotate again once the hub is back", err, oldAnchor)
		}
		fmt.Fprintf(r.Out, "the hub is engaged with the new token\n")
	}
	if oldAnchor.Name != "" {
		if err := RevokeToken(ctx, c, oldAnchor); err != nil {
			return nil, fmt.Errorf("revoke the old token (delete its anchor %s): %w", oldAnchor, err)
		}
		fmt.Fprintf(r.Out, "old token revoked (anchor secret %s deleted)\n", oldAnchor)
	}
	return token, nil
}

// tokenOf reads which ServiceAccount and anchor a credential Secret's token
// belongs to (TokenAnnotations); a token from before anchors has none.
func tokenOf(secret *corev1.Secret) (ServiceAccountAccess, types.NamespacedName, error) {
	sa, ok := secret.Annotations[AnnotationServiceAccount]
	ns, name, found := strings.Cut(sa, "/")
	if !ok || !found || ns == "" || name == "" {
		return ServiceAccountAccess{}, types.NamespacedName{}, fmt.Errorf("no annotation %s=<namespace>/<name>: its token was not made by onboard --create-service-account; onboard again to replace it", AnnotationServiceAccount)
	}
	var anchor types.NamespacedName
	if a := secret.Annotations[AnnotationTokenAnchor]; a != "" {
		ans, aname, ok := strings.Cut(a, "/")
		if !ok || ans != ns || aname == "" {
			return ServiceAccountAccess{}, types.NamespacedName{}, fmt.Errorf("annotation %s=%q is not <namespace>/<name> in the ServiceAccount's namespace", AnnotationTokenAnchor, a)
		}
		anchor = types.NamespacedName{Namespace: ans, Name: aname}
	}
	return ServiceAccountAccess{Namespace: ns, Name: name}, anchor, nil
}

// withToken is a stored credential kubeconfig with its current context's
// user's token replaced.
func withToken(kubeconfig []byte, token string) ([]byte, error) {
	kc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, err
	}
	kctx := kc.Contexts[kc.CurrentContext]
	if kctx == nil || kc.AuthInfos[kctx.AuthInfo] == nil {
		return nil, errors.New("the stored kubeconfig has no current context with a user")
	}
	kc.AuthInfos[kctx.AuthInfo].Token = token
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	if _, err := clusterprofiles.RESTConfigFromSecretKubeconfig(data); err != nil {
		return nil, err
	}
	return data, nil
}

// waitReengaged waits until the hub reports the profile Engaged with
// credentials that expire at expires (its credential-expiry property).
func waitReengaged(ctx context.Context, hub client.WithWatch, key types.NamespacedName, expires time.Time) error {
	want := clusterprofiles.ExpiryString(expires)
	var last string
	err := WaitForProfile(ctx, hub, key, func(cp *clusterinventoryv1alpha1.ClusterProfile) (bool, error) {
		c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
		got := clusterprofiles.Property(cp, clusterprofiles.PropertyCredentialExpiry)
		if c != nil {
			last = fmt.Sprintf("Engaged %s (%s), credential expiry %q", c.Status, c.Reason, got)
		}
		return c != nil && c.Status == metav1.ConditionTrue && got == want, nil
	})
	if err != nil {
		return fmt.Errorf("the hub has not reported %s Engaged on the new token (last: %s): %w", key, last, err)
	}
	return nil
}
