package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestRoleServed: the verdict of CheckClusterRole on what a cluster's
// discovery served (the requests themselves run against real clusters in
// cmd/apinet-hub's onboard tests).
func TestRoleServed(t *testing.T) {
	for _, c := range []struct {
		name    string
		gvs     []string
		role    clusterprofiles.Role
		wantErr string // "" for none
	}{
		{name: "ironcore", gvs: []string{"apps/v1", "networking.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleIronCore},
		{name: "apinet", gvs: []string{"core.apinet.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleAPINet},
		{name: "the other role", gvs: []string{"networking.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleAPINet,
			wantErr: "wrong role: cluster at https://h does not serve core.apinet.ironcore.dev/v1alpha1, the API of role apinet; it serves networking.ironcore.dev/v1alpha1, the API of role ironcore"},
		{name: "other ironcore APIs", gvs: []string{"compute.ironcore.dev/v1alpha1", "apps/v1", "a.ironcore.dev/v1"}, role: clusterprofiles.RoleIronCore,
			wantErr: "wrong role: cluster at https://h does not serve networking.ironcore.dev/v1alpha1, the API of role ironcore; it serves a.ironcore.dev/v1, compute.ironcore.dev/v1alpha1"},
		{name: "no ironcore API", gvs: []string{"apps/v1"}, role: clusterprofiles.RoleIronCore,
			wantErr: "wrong role: cluster at https://h does not serve networking.ironcore.dev/v1alpha1, the API of role ironcore; it serves no *.ironcore.dev API"},
	} {
		t.Run(c.name, func(t *testing.T) {
			served := map[string]bool{}
			for _, gv := range c.gvs {
				served[gv] = true
			}
			err := roleServed("https://h", served, c.role)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestCheckClusterRoleUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("deadline passed", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		err := CheckClusterRole(ctx, &rest.Config{Host: "https://192.0.2.1"}, clusterprofiles.RoleIronCore)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "cluster at https://192.0.2.1 is unreachable: ") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		defer srv.Close()
		err := CheckClusterRole(ctx, &rest.Config{Host: srv.URL}, clusterprofiles.RoleIronCore)
		if want := "cluster at " + srv.URL + " presents a certificate the kubeconfig does not trust: "; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

func TestDescribeClusterError(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{apierrors.NewUnauthorized("x"), "hub at https://h rejected the credentials: "},
		{apierrors.NewForbidden(gr, "n", errors.New("x")), "hub at https://h denies the credentials this request: "},
		{errors.New("connection refused"), "hub at https://h is unreachable: connection refused"},
	} {
		err := DescribeClusterError("hub", "https://h", c.err)
		if !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, c.err) {
			t.Errorf("DescribeClusterError(%v) = %v, want prefix %q, wrapping the error", c.err, err, c.want)
		}
	}
}

func TestServedGroupVersions(t *testing.T) {
	got := servedGroupVersions(&metav1.APIGroupList{Groups: []metav1.APIGroup{
		{Name: "a", Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: "a/v1"}, {GroupVersion: "a/v2"}}},
		{Name: "b", Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: "b/v1"}}},
	}})
	if len(got) != 3 || !got["a/v1"] || !got["a/v2"] || !got["b/v1"] {
		t.Fatalf("servedGroupVersions = %v", got)
	}
}
