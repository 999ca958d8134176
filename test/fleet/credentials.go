package fleet

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// Token is a revocable credential for a cluster: a ServiceAccount token
// bound to an anchor Secret. Deleting the anchor (Revoke) makes the API
// server reject the token, as rotating real credentials would.
type Token struct {
	cluster *Cluster
	anchor  *corev1.Secret
	// Token is the bearer token itself.
	Token string
	// Kubeconfig carries the server, its CA and the token, inline.
	Kubeconfig []byte
}

// ServiceAccountToken returns a new token of ServiceAccount kube-system/<sa>,
// bound (on first use) to exactly the ClusterRole the hub needs in a
// cluster of this cluster's role (lifecycle.AccessClusterRole), never
// to cluster-admin: every suite that hands the hub such a token proves that
// the shipped roles suffice. Each call makes a distinct token.
func (c *Cluster) ServiceAccountToken(ctx context.Context, sa string) (*Token, error) {
	cl := c.Client()
	role, err := lifecycle.AccessClusterRole(clusterprofiles.Role(c.Role))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := cl.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: sa}}
	if err := cl.Create(ctx, account); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet-" + sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: sa}},
	}
	if err := cl.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	anchor := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", GenerateName: sa + "-token-anchor-"}}
	if err := cl.Create(ctx, anchor); err != nil {
		return nil, err
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](24 * 3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchor.Name, UID: anchor.UID},
	}}
	if err := cl.SubResource("token").Create(ctx, account, req); err != nil {
		return nil, fmt.Errorf("token for %s: %w", sa, err)
	}
	kc, err := c.KubeconfigWith(&clientcmdapi.AuthInfo{Token: req.Status.Token}, nil)
	if err != nil {
		return nil, err
	}
	return &Token{cluster: c, anchor: anchor, Token: req.Status.Token, Kubeconfig: kc}, nil
}

// Revoke invalidates the token.
func (t *Token) Revoke(ctx context.Context) error {
	return client.IgnoreNotFound(t.cluster.Client().Delete(ctx, t.anchor))
}

// KubeconfigWith renders a kubeconfig for this cluster's server with the
// given user, trusting caData (nil: the cluster's own CA).
func (c *Cluster) KubeconfigWith(user *clientcmdapi.AuthInfo, caData []byte) ([]byte, error) {
	if caData == nil {
		caData = c.admin.CAData
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["fleet"] = &clientcmdapi.Cluster{Server: c.Host(), CertificateAuthorityData: caData}
	kc.AuthInfos["fleet"] = user
	kc.Contexts["fleet"] = &clientcmdapi.Context{Cluster: "fleet", AuthInfo: "fleet"}
	kc.CurrentContext = "fleet"
	return clientcmd.Write(*kc)
}

// CAData is the CA that signs the cluster's serving certificate.
func (c *Cluster) CAData() []byte { return c.admin.CAData }

// HubKubeconfig returns a kubeconfig for this cluster with a token of the
// hub's own ServiceAccount, bound to exactly the ClusterRole the hub needs
// in a cluster of its role (lifecycle.ServiceAccountAccess, what
// `apinet-hub onboard --create-service-account` sets up).
func (c *Cluster) HubKubeconfig(ctx context.Context) ([]byte, error) {
	role := clusterprofiles.Role(c.Role)
	access := lifecycle.ServiceAccountAccess{Namespace: "apinet-hub", Name: "apinet-hub", Role: role}
	req, err := access.Apply(ctx, c.Client(), FieldManager, 24*time.Hour, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return c.KubeconfigWith(&clientcmdapi.AuthInfo{Token: req.Value}, nil)
}
