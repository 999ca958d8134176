package lifecycle

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestHandbackLayoutAndRefusal pins how offboard reads the hand-back layout
// (an invalid value is an error, not a guess) and what a refusal says.
func TestHandbackLayoutAndRefusal(t *testing.T) {
	profile := func(annotations map[string]string) *clusterinventoryv1alpha1.ClusterProfile {
		return &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "m", Annotations: annotations}}
	}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        clusterprofiles.HandbackLayout
		wantErr     string
	}{
		{name: "unset: head", want: clusterprofiles.HandbackHead},
		{name: "v0.2.4", annotations: map[string]string{clusterprofiles.AnnotationHandbackLayout: "v0.2.4"}, want: clusterprofiles.HandbackV024},
		{name: "head", annotations: map[string]string{clusterprofiles.AnnotationHandbackLayout: "head"}, want: clusterprofiles.HandbackHead},
		{name: "invalid", annotations: map[string]string{clusterprofiles.AnnotationHandbackLayout: "v0.4.2"}, wantErr: `ClusterProfile fleet/m: annotation ` + clusterprofiles.AnnotationHandbackLayout + `="v0.4.2" is not`},
		{name: "another bad setting does not matter", annotations: map[string]string{clusterprofiles.AnnotationNodeAffinityAware: "maybe"}, want: clusterprofiles.HandbackHead},
	} {
		got, err := handbackLayout(profile(tc.annotations))
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if err := handbackRefusal(profile(nil), clusterprofiles.HandbackHead, nil); err != nil {
		t.Errorf("no blockers: %v", err)
	}
	err := handbackRefusal(profile(nil), clusterprofiles.HandbackV024, []string{"apinet LoadBalancer ns/a: x", "apinet LoadBalancer ns/b: y"})
	for _, want := range []string{"refusing --release of fleet/m: apinetlet v0.2.4", "could not adopt 2 apinet objects", "\n  apinet LoadBalancer ns/a: x\n  apinet LoadBalancer ns/b: y\n", "Nothing was changed", "docs/operations.md"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %v, want it to hold %q", err, want)
		}
	}
}

// TestMembersOf pins which profiles keep a peer from being offboarded: the
// IronCore profiles that name it by label or by the hub's pairing, unless
// their own offboarding has finished with their objects.
func TestMembersOf(t *testing.T) {
	labelled := func(name, role, peer string) clusterinventoryv1alpha1.ClusterProfile {
		cp := clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{clusterprofiles.LabelRole: role}}}
		if peer != "" {
			cp.Labels[clusterprofiles.LabelPeer] = peer
		}
		return cp
	}
	paired := func(name, role, peer string) clusterinventoryv1alpha1.ClusterProfile {
		cp := clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"x-k8s.io/cluster-manager": "open-cluster-management"}}}
		cp.Status.Properties = []clusterinventoryv1alpha1.Property{{Name: clusterprofiles.PropertyRole, Value: role}, {Name: clusterprofiles.PropertyPeer, Value: peer}}
		return cp
	}
	profiles := []clusterinventoryv1alpha1.ClusterProfile{
		labelled("peer", "apinet", ""),
		labelled("by-label", "ironcore", "peer"),
		labelled("elsewhere", "ironcore", "other-peer"),
		paired("by-pairing", "ironcore", "peer"),
		paired("paired-elsewhere", "ironcore", "other-peer"),
		paired("paired-peer", "apinet", ""),
		{ObjectMeta: metav1.ObjectMeta{Name: "unhandled"}},
	}
	offboarded := paired("offboarded", "ironcore", "peer")
	offboarded.Annotations = map[string]string{clusterprofiles.AnnotationOffboarding: "release", AnnotationOffboarded: "release"}
	halfway := paired("halfway", "ironcore", "peer")
	halfway.Annotations = map[string]string{clusterprofiles.AnnotationOffboarding: "purge"}
	profiles = append(profiles, offboarded, halfway)
	got := membersOf(profiles, "peer")
	if want := []string{"by-label", "by-pairing", "halfway"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("membersOf = %v, want %v", got, want)
	}
	if got := membersOf(profiles, "nobody"); len(got) != 0 {
		t.Errorf("membersOf(nobody) = %v, want none", got)
	}
}
