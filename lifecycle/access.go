package lifecycle

import (
	"context"
	"embed"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// accessManifests holds the ClusterRoles the hub needs in a cluster of each role
// (access/<role>.yaml): the least privilege, shipped as manifests.
//
//go:embed access/*.yaml
var accessManifests embed.FS

// AccessClusterRole is the ClusterRole the hub needs in a cluster of role
// (named apinet-hub:<role>).
func AccessClusterRole(role clusterprofiles.Role) (*rbacv1.ClusterRole, error) {
	raw, err := accessManifests.ReadFile("access/" + string(role) + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no ClusterRole for role %q", role)
	}
	cr := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, cr); err != nil {
		return nil, fmt.Errorf("access/%s.yaml: %w", role, err)
	}
	return cr, nil
}

// managedByLabel marks what onboard creates in a cluster.
const managedByLabel, managedBy = "app.kubernetes.io/managed-by", "apinet-hub-onboard"

// tokenRolePrefix names the Role, and its RoleBinding, that lets one
// ServiceAccount of the hub mint its own next token: one per ServiceAccount,
// since the Role names it (resourceNames). legacyTokenRole is the Role
// earlier onboards shared between the ServiceAccounts of a namespace (whose
// binding was apinet-hub:token:<name>): the last one onboarded named
// itself, so the others could not rotate. Remove deletes both.
const (
	tokenRolePrefix = "apinet-hub:rotate:"
	legacyTokenRole = "apinet-hub:token"
)

// AnnotationCreatedByOnboard, on the ServiceAccount's namespace, records
// that onboard created it ("true"): offboard --remove-access deletes a
// namespace only then. A namespace that existed before is used as it is,
// never labelled or annotated, and never deleted.
const AnnotationCreatedByOnboard = "apinet-hub.ironcore.dev/created-by-onboard"

// ServiceAccountAccess is what `apinet-hub onboard --create-service-account`
// creates in the cluster being onboarded (as karmadactl join does): a
// ServiceAccount of the hub, bound to the role's AccessClusterRole. The hub
// then holds a token of that ServiceAccount, never the caller's credentials.
type ServiceAccountAccess struct {
	// Namespace and Name of the ServiceAccount in the onboarded cluster.
	Namespace, Name string
	Role            clusterprofiles.Role
}

// Objects are the objects to apply, in order: the namespace, the
// ServiceAccount, the ClusterRole and its binding, and the Role (and
// binding) that lets the ServiceAccount rotate its own token. They carry apiVersion
// and kind (for server-side apply).
func (a ServiceAccountAccess) Objects() ([]client.Object, error) {
	role, err := AccessClusterRole(a.Role)
	if err != nil {
		return nil, err
	}
	role.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"}
	labels := map[string]string{managedByLabel: managedBy}
	role.Labels = labels
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: a.Namespace, Labels: labels, Annotations: map[string]string{AnnotationCreatedByOnboard: "true"}}}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: labels}}
	binding := &rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + ":" + a.Namespace + ":" + a.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: a.Namespace, Name: a.Name}},
	}
	// In the ServiceAccount's namespace, the hub may mint its own next token
	// (apinet-hub rotate with the stored credentials) and create and delete
	// the anchor Secrets its tokens are bound to: keep that namespace the
	// hub's own.
	tokenRole := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: tokenRolePrefix + a.Name, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{a.Name}, Verbs: []string{"create"}},
			// No get: anchors are deleted by name and label (deletecollection),
			// and no Secret of the namespace is ever read.
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "deletecollection"}},
		},
	}
	tokenBinding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: tokenRolePrefix + a.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: tokenRole.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: a.Namespace, Name: a.Name}},
	}
	return []client.Object{ns, sa, role, binding, tokenRole, tokenBinding}, nil
}

// Apply applies Objects to the cluster of c by server-side apply under
// fieldManager, calling applied after each, and issues a token of the
// ServiceAccount valid for about expiration (IssueToken).
func (a ServiceAccountAccess) Apply(ctx context.Context, c client.Client, fieldManager string, expiration time.Duration, applied func(kind, name string)) (*Token, error) {
	if err := a.ApplyObjects(ctx, c, fieldManager, applied); err != nil {
		return nil, err
	}
	return a.IssueToken(ctx, c, expiration)
}

// ApplyObjects applies Objects in order, each by server-side apply under
// fieldManager, and calls applied (if set) for each. The namespace is only
// created if missing (an existing one is left as it is), and a
// ServiceAccount of that name that onboard did not make (without its
// managed-by label) is refused: offboard --remove-access deletes what
// onboard made, so onboard never adopts what someone else uses.
func (a ServiceAccountAccess) ApplyObjects(ctx context.Context, c client.Client, fieldManager string, applied func(kind, name string)) error {
	if clusterprofiles.SystemNamespace(a.Namespace) {
		// The hub's token may delete the Secrets of this namespace (its token
		// anchors): keep it away from the system's.
		return fmt.Errorf("namespace %s is a system namespace: the hub's ServiceAccount gets a namespace of its own (--service-account-namespace)", a.Namespace)
	}
	objs, err := a.Objects()
	if err != nil {
		return err
	}
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.Namespace:
			err := c.Create(ctx, o.DeepCopy(), client.FieldOwner(fieldManager))
			switch {
			case err == nil:
				if applied != nil {
					applied("Namespace", o.Name)
				}
			case !apierrors.IsAlreadyExists(err):
				return fmt.Errorf("Namespace %s: %w", o.Name, err)
			}
			continue
		case *corev1.ServiceAccount:
			live := &metav1.PartialObjectMetadata{}
			live.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
			err := c.Get(ctx, client.ObjectKeyFromObject(o), live)
			switch {
			case err == nil && live.Labels[managedByLabel] != managedBy:
				return fmt.Errorf("ServiceAccount %s/%s exists and was not made by onboard (no label %s=%s): the hub's access would be granted to whatever uses it, and offboard --remove-access would delete it; pick another --service-account-name or --service-account-namespace",
					o.Namespace, o.Name, managedByLabel, managedBy)
			case err != nil && !apierrors.IsNotFound(err):
				return fmt.Errorf("ServiceAccount %s/%s: %w", o.Namespace, o.Name, err)
			}
		}
		u := &unstructured.Unstructured{}
		if u.Object, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return err
		}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		name := u.GetName()
		if u.GetNamespace() != "" {
			name = u.GetNamespace() + "/" + name
		}
		if applied != nil {
			applied(u.GetKind(), name)
		}
	}
	return nil
}

// Token is a token of the hub's ServiceAccount, bound to an anchor Secret
// in the ServiceAccount's namespace: deleting the anchor revokes this token
// alone (RevokeToken), where deleting the ServiceAccount would revoke all.
type Token struct {
	Value   string
	Anchor  types.NamespacedName
	Expires time.Time
}

// AnnotationTokenAnchor, on a profile's credential Secret, names the anchor
// of the token it holds ("<namespace>/<name>" in the cluster), and
// AnnotationServiceAccount the ServiceAccount ("<namespace>/<name>"): what
// `apinet-hub rotate` and `offboard --remove-access` act on.
const (
	AnnotationTokenAnchor    = "apinet-hub.ironcore.dev/token-anchor"
	AnnotationServiceAccount = "apinet-hub.ironcore.dev/service-account"
)

// TokenAnnotations record on a credential Secret which ServiceAccount and
// anchor its token belongs to.
func TokenAnnotations(a ServiceAccountAccess, t *Token) map[string]string {
	return map[string]string{
		AnnotationServiceAccount: a.Namespace + "/" + a.Name,
		AnnotationTokenAnchor:    t.Anchor.String(),
	}
}

// LabelTokenOf, on an anchor Secret, names the ServiceAccount whose token
// it anchors.
const LabelTokenOf = "apinet-hub.ironcore.dev/token-of"

// tokenSpread is the share of a token's lifetime cut at random, so that the
// tokens of clusters onboarded together do not expire together.
const tokenSpread = 0.1

// spreadExpiration is expiration less a random cut of up to tokenSpread of
// it (u in [0, 1)), never below the API server's 10 minutes.
func spreadExpiration(expiration time.Duration, u float64) time.Duration {
	d := expiration - time.Duration(float64(expiration)*tokenSpread*u)
	return max(d.Truncate(time.Second), 10*time.Minute)
}

// IssueToken creates an anchor Secret and a token of the ServiceAccount
// bound to it, valid for expiration less a random cut of up to 10 %
// (spreadExpiration). The anchor is deleted again if the token cannot be
// made.
func (a ServiceAccountAccess) IssueToken(ctx context.Context, c client.Client, expiration time.Duration) (*Token, error) {
	anchor := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, GenerateName: a.Name + "-token-",
		Labels: map[string]string{LabelTokenOf: a.Name, managedByLabel: managedBy}}, Type: corev1.SecretTypeOpaque}
	if err := c.Create(ctx, anchor); err != nil {
		return nil, fmt.Errorf("anchor Secret of a token of ServiceAccount %s/%s: %w", a.Namespace, a.Name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(spreadExpiration(expiration, rand.Float64()) / time.Second)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchor.Name, UID: anchor.UID},
	}}
	if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
		_ = c.Delete(ctx, anchor)
		return nil, fmt.Errorf("token of ServiceAccount %s/%s: %w", a.Namespace, a.Name, err)
	}
	return &Token{Value: req.Status.Token, Anchor: client.ObjectKeyFromObject(anchor), Expires: req.Status.ExpirationTimestamp.Time}, nil
}

// RevokeToken deletes a token's anchor Secret, by name and only if it
// carries LabelTokenOf (deletecollection with both selectors: the hub's
// Role reads no Secret): the API server rejects the token from then on. An
// anchor already gone is no error.
func RevokeToken(ctx context.Context, c client.Client, anchor types.NamespacedName) error {
	return c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(anchor.Namespace), client.HasLabels{LabelTokenOf},
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", anchor.Name)})
}

// Remove deletes, with the caller's client of the cluster, the token anchor
// own (revoking the token it anchors) and, when no other token of the
// ServiceAccount is anchored in the cluster, what Objects and IssueToken
// created: the Role and bindings, the ServiceAccount, the ClusterRole when
// no other binding names it, and the namespace when onboard created it
// (AnnotationCreatedByOnboard) and no other ServiceAccount than "default"
// is left there. Another anchor is another profile's token of the same
// ServiceAccount (profiles scoped to parts of one cluster share it) or one
// made before and never revoked: the ServiceAccount and its grants then
// stay, for the last profile's offboarding, and keptBy names those anchors.
// It returns what it deleted, "<Kind> <name>" each; what is gone already is
// no error.
func (a ServiceAccountAccess) Remove(ctx context.Context, c client.Client, own types.NamespacedName) (removed, keptBy []string, err error) {
	objs, err := a.Objects()
	if err != nil {
		return nil, nil, err
	}
	ns, sa, clusterRole, binding, tokenRole, tokenBinding := objs[0], objs[1], objs[2], objs[3], objs[4], objs[5]
	if own.Name != "" {
		if err := RevokeToken(ctx, c, own); err != nil {
			return nil, nil, fmt.Errorf("revoke the hub's token (anchor %s): %w", own, err)
		}
		removed = append(removed, "token anchor "+own.String())
	}
	anchors := &metav1.PartialObjectMetadataList{}
	anchors.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := c.List(ctx, anchors, client.InNamespace(a.Namespace), client.MatchingLabels{LabelTokenOf: a.Name}); err != nil {
		return removed, nil, fmt.Errorf("list the token anchors of ServiceAccount %s/%s: %w", a.Namespace, a.Name, err)
	}
	for _, anchor := range anchors.Items {
		if anchor.DeletionTimestamp == nil && anchor.Name != own.Name {
			keptBy = append(keptBy, anchor.Namespace+"/"+anchor.Name)
		}
	}
	if len(keptBy) > 0 {
		return removed, keptBy, nil
	}
	del := func(obj client.Object) error {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if err := c.Delete(ctx, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("delete %s %s: %w", kind, client.ObjectKeyFromObject(obj), err)
		}
		removed = append(removed, kind+" "+strings.TrimPrefix(client.ObjectKeyFromObject(obj).String(), "/"))
		return nil
	}
	// What earlier onboards made goes too, only if onboard's label says so.
	delLegacy := func(obj client.Object) error {
		gvk := obj.GetObjectKind().GroupVersionKind()
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return client.IgnoreNotFound(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvk)
		if obj.GetLabels()[managedByLabel] != managedBy {
			return nil
		}
		return del(obj)
	}
	for _, obj := range []client.Object{tokenBinding, binding, sa, tokenRole} {
		if err := del(obj); err != nil {
			return removed, nil, err
		}
	}
	legacyBinding := &rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: legacyTokenRole + ":" + a.Name}}
	if err := delLegacy(legacyBinding); err != nil {
		return removed, nil, err
	}
	// Shared objects go only with their last user.
	roleBindings := &rbacv1.RoleBindingList{}
	if err := c.List(ctx, roleBindings, client.InNamespace(a.Namespace)); err != nil {
		return removed, nil, err
	}
	if !slices.ContainsFunc(roleBindings.Items, func(b rbacv1.RoleBinding) bool {
		return b.RoleRef.Kind == "Role" && b.RoleRef.Name == legacyTokenRole
	}) {
		legacy := &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: legacyTokenRole}}
		if err := delLegacy(legacy); err != nil {
			return removed, nil, err
		}
	}
	clusterBindings := &rbacv1.ClusterRoleBindingList{}
	if err := c.List(ctx, clusterBindings); err != nil {
		return removed, nil, err
	}
	if !slices.ContainsFunc(clusterBindings.Items, func(b rbacv1.ClusterRoleBinding) bool { return b.RoleRef.Name == clusterRole.GetName() }) {
		if err := del(clusterRole); err != nil {
			return removed, nil, err
		}
	}
	live := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ns), live); err != nil {
		return removed, nil, client.IgnoreNotFound(err)
	}
	accounts := &corev1.ServiceAccountList{}
	if err := c.List(ctx, accounts, client.InNamespace(a.Namespace)); err != nil {
		return removed, nil, err
	}
	others := slices.ContainsFunc(accounts.Items, func(s corev1.ServiceAccount) bool { return s.Name != "default" && s.Name != a.Name })
	if live.Annotations[AnnotationCreatedByOnboard] == "true" && !others && !clusterprofiles.SystemNamespace(a.Namespace) {
		return removed, nil, del(ns)
	}
	return removed, nil, nil
}
