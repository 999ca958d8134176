package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// discoveryServer serves the discovery of a cluster that serves the
// group versions gvs ("group/version"), or answers every request with
// status if it is not 0.
func discoveryServer(t *testing.T, status int, gvs ...string) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var body any
		switch {
		case status != 0:
			w.WriteHeader(status)
			body = metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusFailure,
				Code: int32(status), Reason: metav1.StatusReason(http.StatusText(status))}
			if status == http.StatusUnauthorized {
				body = apierrors.NewUnauthorized("no").ErrStatus
			}
		case r.URL.Path == "/api":
			body = metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}}
		case r.URL.Path == "/apis":
			list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
			for _, gv := range gvs {
				g, v, _ := strings.Cut(gv, "/")
				list.Groups = append(list.Groups, metav1.APIGroup{Name: g,
					Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: gv, Version: v}}})
			}
			body = list
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestCheckClusterRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		name    string
		status  int
		gvs     []string
		role    clusterprofiles.Role
		wantErr string // "" for none; HOST is the server
	}{
		{name: "ironcore", gvs: []string{"apps/v1", "networking.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleIronCore},
		{name: "apinet", gvs: []string{"core.apinet.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleAPINet},
		{name: "the other role", gvs: []string{"networking.ironcore.dev/v1alpha1"}, role: clusterprofiles.RoleAPINet,
			wantErr: "wrong role: cluster at HOST does not serve core.apinet.ironcore.dev/v1alpha1, the API of role apinet; it serves networking.ironcore.dev/v1alpha1, the API of role ironcore"},
		{name: "other ironcore APIs", gvs: []string{"compute.ironcore.dev/v1alpha1", "apps/v1", "a.ironcore.dev/v1"}, role: clusterprofiles.RoleIronCore,
			wantErr: "wrong role: cluster at HOST does not serve networking.ironcore.dev/v1alpha1, the API of role ironcore; it serves a.ironcore.dev/v1, compute.ironcore.dev/v1alpha1"},
		{name: "no ironcore API", gvs: []string{"apps/v1"}, role: clusterprofiles.RoleIronCore,
			wantErr: "wrong role: cluster at HOST does not serve networking.ironcore.dev/v1alpha1, the API of role ironcore; it serves no *.ironcore.dev API"},
		{name: "rejected", status: http.StatusUnauthorized, role: clusterprofiles.RoleIronCore,
			wantErr: "cluster at HOST rejected the credentials: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := discoveryServer(t, c.status, c.gvs...)
			err := CheckClusterRole(ctx, cfg, c.role)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := strings.ReplaceAll(c.wantErr, "HOST", cfg.Host); err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if c.status == http.StatusUnauthorized && !apierrors.IsUnauthorized(err) {
				t.Errorf("error %v does not wrap the API server's 401 (ServiceAccountCredentials.Stored relies on it)", err)
			}
		})
	}

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

// TestOnboardingCheck runs Check against a fake hub and a discovery
// server: each check in turn, with the message the CLI prints.
func TestOnboardingCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ironcoreCluster := discoveryServer(t, 0, "networking.ironcore.dev/v1alpha1")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}}
	profile := func(name, role, manager string) *clusterinventoryv1alpha1.ClusterProfile {
		return &clusterinventoryv1alpha1.ClusterProfile{
			ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name, Labels: RoleLabels(clusterprofiles.Role(role), "")},
			Spec:       clusterinventoryv1alpha1.ClusterProfileSpec{ClusterManager: clusterinventoryv1alpha1.ClusterManager{Name: manager}},
		}
	}
	member := &Onboarding{Namespace: "fleet", Name: "ironcore-1", ClusterManager: "apinet-hub-onboard",
		Labels: RoleLabels(clusterprofiles.RoleIronCore, "apinet-1")}
	for _, c := range []struct {
		name    string
		objs    []client.Object
		wantErr string
	}{
		{name: "all well", objs: []client.Object{ns, profile("apinet-1", "apinet", "m")}},
		{name: "no hub namespace", wantErr: `hub namespace "fleet" does not exist; create it first`},
		{name: "no peer", objs: []client.Object{ns},
			wantErr: "peer ClusterProfile fleet/apinet-1 does not exist; onboard the apinet cluster first (apinet-hub onboard --role apinet --name apinet-1)"},
		{name: "peer of the wrong role", objs: []client.Object{ns, profile("apinet-1", "ironcore", "m")},
			wantErr: `peer ClusterProfile fleet/apinet-1 has role "ironcore" (from label); a peer must have role apinet`},
		{name: "peer without a role", objs: []client.Object{ns, profile("apinet-1", "", "m")},
			wantErr: `peer ClusterProfile fleet/apinet-1 has role "" (from label); a peer must have role apinet`},
		{name: "another cluster manager", objs: []client.Object{ns, profile("apinet-1", "apinet", "m"), profile("ironcore-1", "ironcore", "other")},
			wantErr: `ClusterProfile fleet/ironcore-1 belongs to cluster manager "other" (spec.clusterManager.name cannot change); pass --cluster-manager other to update it anyway, or pick another --name`},
		{name: "same cluster manager", objs: []client.Object{ns, profile("apinet-1", "apinet", "m"), profile("ironcore-1", "ironcore", "apinet-hub-onboard")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hub := fake.NewClientBuilder().WithScheme(clusterprofiles.Scheme).WithObjects(c.objs...).Build()
			err := member.Check(ctx, hub, "https://hub", ironcoreCluster)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || err.Error() != c.wantErr):
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
		})
	}

	t.Run("an apinet cluster has no peer to check", func(t *testing.T) {
		hub := fake.NewClientBuilder().WithScheme(clusterprofiles.Scheme).WithObjects(ns).Build()
		o := &Onboarding{Namespace: "fleet", Name: "apinet-1", ClusterManager: "m", Labels: RoleLabels(clusterprofiles.RoleAPINet, "")}
		err := o.Check(ctx, hub, "https://hub", ironcoreCluster)
		if err == nil || !strings.HasPrefix(err.Error(), "wrong role: cluster at "+ironcoreCluster.Host) {
			t.Fatalf("error %v, want the cluster's wrong role", err)
		}
	})
}
