package lifecycle

import (
	"context"
	"embed"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
// ServiceAccount, the ClusterRole and its binding. They carry apiVersion
// and kind (for server-side apply).
func (a ServiceAccountAccess) Objects() ([]client.Object, error) {
	role, err := AccessClusterRole(a.Role)
	if err != nil {
		return nil, err
	}
	role.TypeMeta = metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"}
	labels := map[string]string{"app.kubernetes.io/managed-by": "apinet-hub-onboard"}
	role.Labels = labels
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: a.Namespace, Labels: labels}}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name, Labels: labels}}
	binding := &rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + ":" + a.Namespace + ":" + a.Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: a.Namespace, Name: a.Name}},
	}
	return []client.Object{ns, sa, role, binding}, nil
}

// Apply applies Objects to the cluster of c by server-side apply under
// fieldManager, calling applied after each, and returns a token of the
// ServiceAccount valid for expiration (a TokenRequest).
func (a ServiceAccountAccess) Apply(ctx context.Context, c client.Client, fieldManager string, expiration time.Duration, applied func(kind, name string)) (*authenticationv1.TokenRequest, error) {
	objs, err := a.Objects()
	if err != nil {
		return nil, err
	}
	for _, obj := range objs {
		u := &unstructured.Unstructured{}
		if u.Object, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return nil, err
		}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		name := u.GetName()
		if u.GetNamespace() != "" {
			name = u.GetNamespace() + "/" + name
		}
		if applied != nil {
			applied(u.GetKind(), name)
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: a.Name}}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(expiration / time.Second))}}
	if err := c.SubResource("token").Create(ctx, sa, req); err != nil {
		return nil, fmt.Errorf("token of ServiceAccount %s/%s: %w", a.Namespace, a.Name, err)
	}
	return req, nil
}
