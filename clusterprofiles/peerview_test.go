package clusterprofiles

import (
	"strings"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// namespacedInTest stands in for the client's RESTMapper: Namespaces are
// cluster-scoped, everything else namespaced.
func namespacedInTest(obj runtime.Object) (bool, error) {
	switch obj.(type) {
	case *corev1.Namespace, *corev1.NamespaceList:
		return false, nil
	}
	return true, nil
}

func TestPeerViewGuard(t *testing.T) {
	g := guard{namespace: "mine", namespaced: namespacedInTest}
	for _, tc := range []struct {
		name    string
		key     client.ObjectKey
		obj     client.Object
		wantErr string
	}{
		{"own namespace", client.ObjectKey{Namespace: "mine", Name: "n"}, &apinetv1alpha1.Network{}, ""},
		{"another namespace", client.ObjectKey{Namespace: "theirs", Name: "n"}, &apinetv1alpha1.Network{}, "theirs/n is outside namespace mine"},
		{"no namespace", client.ObjectKey{Name: "n"}, &apinetv1alpha1.Network{}, "is outside namespace mine"},
		{"a cluster-scoped object", client.ObjectKey{Name: "theirs"}, &corev1.Namespace{}, ""},
	} {
		err := g.get(tc.key, tc.obj)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: get = %v, want %q", tc.name, err, tc.wantErr)
		}
	}

	for _, tc := range []struct {
		name    string
		list    client.ObjectList
		opts    []client.ListOption
		wantNS  string
		wantErr string
	}{
		{"no namespace: confined", &apinetv1alpha1.NetworkList{}, nil, "mine", ""},
		{"own namespace", &apinetv1alpha1.NetworkList{}, []client.ListOption{client.InNamespace("mine")}, "mine", ""},
		{"another namespace", &apinetv1alpha1.NetworkList{}, []client.ListOption{client.InNamespace("theirs")}, "", "namespace theirs is not namespace mine"},
		{"labels kept", &apinetv1alpha1.NetworkList{}, []client.ListOption{client.MatchingLabels{"a": "b"}}, "mine", ""},
		{"cluster-scoped list", &corev1.NamespaceList{}, nil, "", ""},
	} {
		opts, err := g.list(tc.list, tc.opts)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: list = %v, want %q", tc.name, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		if lo.Namespace != tc.wantNS {
			t.Errorf("%s: lists namespace %q, want %q", tc.name, lo.Namespace, tc.wantNS)
		}
		if tc.name == "labels kept" && (lo.LabelSelector == nil || lo.LabelSelector.String() != "a=b") {
			t.Errorf("%s: label selector %v", tc.name, lo.LabelSelector)
		}
	}
}
