package reconcilers

import (
	"strings"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestLoadBalancerHandbackBlockers pins which apinet LoadBalancers the
// apinetlet of a hand-back layout could not adopt: those whose immutable
// selector differs from the one it applies, or whose origin it cannot read
// (or, v0.2.4, write as labels).
func TestLoadBalancerHandbackBlockers(t *testing.T) {
	o := OriginLoadBalancer
	head := func(name string) map[string]string {
		return map[string]string{o.UIDLabel(): "uid-" + name, o.NamespaceLabel(): "default"}
	}
	v024 := func(name string) map[string]string {
		l := head(name)
		l[o.NameKey()] = name
		return l
	}
	lb := func(name string, labels map[string]string, selector *metav1.LabelSelector) *apinetv1alpha1.LoadBalancer {
		l := map[string]string{}
		for k, v := range labels {
			if k != o.NameKey() {
				l[k] = v
			}
		}
		return &apinetv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "uid-" + name, Labels: l, Annotations: map[string]string{o.NameKey(): name}},
			Spec:       apinetv1alpha1.LoadBalancerSpec{Selector: selector},
		}
	}
	sel := func(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }
	long := strings.Repeat("x", 64)
	noOrigin := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "stray"}, Spec: apinetv1alpha1.LoadBalancerSpec{Selector: sel(map[string]string{"a": "b"})}}
	// legacy: apinetlet v0.2.4 wrote it, name as label only.
	legacy := &apinetv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "uid-old", Labels: v024("old")},
		Spec:       apinetv1alpha1.LoadBalancerSpec{Selector: sel(v024("old"))},
	}
	withExpr := lb("expr", head("expr"), &metav1.LabelSelector{MatchLabels: head("expr"), MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpExists}}})
	for _, tc := range []struct {
		name   string
		layout clusterprofiles.HandbackLayout
		lbs    []*apinetv1alpha1.LoadBalancer
		want   []string // substrings of each line, in order
	}{
		{name: "none", layout: clusterprofiles.HandbackHead},
		{name: "head to head", layout: clusterprofiles.HandbackHead, lbs: []*apinetv1alpha1.LoadBalancer{lb("a", head("a"), sel(head("a")))}},
		{name: "v0.2.4 to v0.2.4, the hub's and apinetlet's", layout: clusterprofiles.HandbackV024, lbs: []*apinetv1alpha1.LoadBalancer{lb("a", v024("a"), sel(v024("a"))), legacy}},
		{
			name: "head's to v0.2.4", layout: clusterprofiles.HandbackV024,
			lbs:  []*apinetv1alpha1.LoadBalancer{lb("b", head("b"), sel(head("b"))), lb("a", v024("a"), sel(v024("a")))},
			want: []string{"apinet LoadBalancer ns/uid-b (IronCore LoadBalancer default/b): its selector (immutable) is head's (uid, namespace), apinetlet v0.2.4 applies v0.2.4's (uid, namespace, name)"},
		},
		{
			name: "v0.2.4's to head", layout: clusterprofiles.HandbackHead,
			lbs:  []*apinetv1alpha1.LoadBalancer{legacy, lb("a", head("a"), sel(head("a")))},
			want: []string{"apinet LoadBalancer ns/uid-old (IronCore LoadBalancer default/old): its selector (immutable) is v0.2.4's (uid, namespace, name), apinetlet head applies head's (uid, namespace)"},
		},
		{
			name: "sorted; odd selectors; no origin; long name", layout: clusterprofiles.HandbackV024,
			lbs: []*apinetv1alpha1.LoadBalancer{
				lb("z", head("z"), nil), noOrigin, withExpr, lb(long, head(long), sel(head(long))),
			},
			want: []string{
				"ns/stray: carries no origin",
				"ns/uid-expr (IronCore LoadBalancer default/expr): its selector (immutable) is " + o.NamespaceLabel() + "=default,",
				"ns/uid-" + long + " (IronCore LoadBalancer default/" + long + "): its name is no label value",
				"ns/uid-z (IronCore LoadBalancer default/z): its selector (immutable) is empty",
			},
		},
		{
			name: "a selector for another object", layout: clusterprofiles.HandbackHead,
			lbs:  []*apinetv1alpha1.LoadBalancer{lb("a", head("a"), sel(head("b")))},
			want: []string{"ns/uid-a (IronCore LoadBalancer default/a): its selector (immutable) is " + o.NamespaceLabel() + "=default," + o.UIDLabel() + "=uid-b"},
		},
	} {
		got := loadBalancerHandbackBlockers(tc.layout, tc.lbs)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d blockers %q, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tc.want[i]) {
				t.Errorf("%s: blocker %d = %q, want it to hold %q", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}
