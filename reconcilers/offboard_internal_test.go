package reconcilers

import (
	"maps"
	"strings"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

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

// FuzzLoadBalancerHandbackBlockers feeds apinet LoadBalancers with
// arbitrary origin metadata and selectors (what the peer holds): no panic,
// at most one line per object, and an object is a blocker exactly when its
// selector is not the one the layout writes for its origin.
func FuzzLoadBalancerHandbackBlockers(f *testing.F) {
	o := OriginLoadBalancer
	f.Add("uid-1", "default", "web", "", true, "uid-1", "default", "web", false)
	f.Add("uid-1", "default", "web", "web", false, "uid-1", "default", "", true)
	f.Add("", "default", "", "", true, "", "", "", false)
	f.Add("u", "ns", strings.Repeat("n", 70), "", true, "u", "ns", strings.Repeat("n", 70), true)
	f.Fuzz(func(t *testing.T, uid, ns, nameAnnotation, nameLabel string, v024 bool, selUID, selNS, selName string, withExpr bool) {
		labels := map[string]string{}
		for k, v := range map[string]string{o.UIDLabel(): uid, o.NamespaceLabel(): ns, o.NameKey(): nameLabel} {
			if v != "" {
				labels[k] = v
			}
		}
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{}}
		for k, v := range map[string]string{o.UIDLabel(): selUID, o.NamespaceLabel(): selNS, o.NameKey(): selName} {
			if v != "" {
				sel.MatchLabels[k] = v
			}
		}
		if withExpr {
			sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpExists}}
		}
		an := &apinetv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lb", Labels: labels, Annotations: map[string]string{o.NameKey(): nameAnnotation}},
			Spec:       apinetv1alpha1.LoadBalancerSpec{Selector: sel},
		}
		layout := clusterprofiles.HandbackHead
		if v024 {
			layout = clusterprofiles.HandbackV024
		}
		got := loadBalancerHandbackBlockers(layout, []*apinetv1alpha1.LoadBalancer{an})
		if len(got) > 1 {
			t.Fatalf("%d lines for one object: %q", len(got), got)
		}
		src, ok := o.Of(an)
		if !ok || uid == "" {
			if len(got) != 1 {
				t.Fatalf("no origin, yet no blocker")
			}
			return
		}
		ic := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Name, UID: types.UID(uid)}}
		want := o.LayoutLabels(layout, ic)
		adoptable := !withExpr && maps.Equal(sel.MatchLabels, want) && (layout != clusterprofiles.HandbackV024 || len(validation.IsValidLabelValue(src.Name)) == 0)
		if adoptable != (len(got) == 0) {
			t.Fatalf("layout %s, origin %v/%s, selector %v: blockers %q, adoptable %t", layout, src, uid, sel, got, adoptable)
		}
	})
}
