package reconcilers

import (
	"errors"
	"reflect"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestForeignOrigins(t *testing.T) {
	network := func(name, uid, ns, origin string, v024 bool) client.Object {
		o := OriginNetwork
		n := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
		if uid != "" {
			n.Labels[o.UIDLabel()] = uid
		}
		if ns != "" {
			n.Labels[o.NamespaceLabel()] = ns
		}
		if origin != "" {
			if v024 {
				n.Labels[o.NameKey()] = origin
			} else {
				n.Annotations = map[string]string{o.NameKey(): origin}
			}
		}
		return n
	}
	// The member has Network default/a (uid-a) and VirtualIP default/v (uid-v).
	have := map[Origin]map[types.NamespacedName]types.UID{
		OriginNetwork:   {{Namespace: "default", Name: "a"}: "uid-a"},
		OriginVirtualIP: {{Namespace: "default", Name: "v"}: "uid-v"},
	}
	lookup := func(o Origin, key types.NamespacedName) (types.UID, bool, error) {
		uid, ok := have[o][key]
		return uid, ok, nil
	}
	ip := &apinetv1alpha1.IP{ObjectMeta: metav1.ObjectMeta{Name: "ip", Labels: map[string]string{
		OriginVirtualIP.UIDLabel(): "uid-v", OriginVirtualIP.NamespaceLabel(): "default", OriginVirtualIP.NameKey(): "v"}}}
	for _, tc := range []struct {
		name string
		objs []client.Object
		want []string
	}{
		{name: "nothing to prove"},
		{name: "the member's own, both layouts", objs: []client.Object{network("n1", "uid-a", "default", "a", false), network("n2", "uid-a", "default", "a", true), ip}},
		{name: "no origin at all is neutral", objs: []client.Object{network("nic-like", "", "", "", false)}},
		{name: "another cluster's object", objs: []client.Object{network("n3", "uid-x", "default", "x", false)},
			want: []string{"n3 (from network default/x, not in this cluster)"}},
		{name: "same name, other uid", objs: []client.Object{network("n4", "uid-other", "default", "a", false)},
			want: []string{"n4 (from network default/a uid uid-other; this cluster's has uid uid-a)"}},
		{name: "origin uid without namespace", objs: []client.Object{network("n5", "uid-a", "", "a", false)},
			want: []string{"n5 (from network with uid uid-a, no namespace/name)"}},
		{name: "mixed keeps the order", objs: []client.Object{network("b", "uid-x", "default", "x", false), ip, network("c", "uid-y", "other", "y", false)},
			want: []string{"b (from network default/x, not in this cluster)", "c (from network other/y, not in this cluster)"}},
	} {
		got, err := foreignOrigins(tc.objs, lookup)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: foreignOrigins = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := foreignOrigins([]client.Object{network("n", "uid-a", "default", "a", false)}, func(Origin, types.NamespacedName) (types.UID, bool, error) {
		return "", false, boom
	}); !errors.Is(err, boom) {
		t.Errorf("a failed lookup: err = %v, want boom", err)
	}
}
