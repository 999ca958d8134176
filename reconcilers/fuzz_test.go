package reconcilers

import (
	"context"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Fuzz targets for the outside input the reconcilers read besides provider
// IDs (providerid_test.go): NAT annotations, the watch-filter label and the
// managed-by annotation, and the origin metadata of apinet objects.

// FuzzNATLimits layers arbitrary profile and NATGateway annotations over the
// hub's limits: the result is always usable (0 <= min <= max), an invalid
// layer is reported and ignored, and a valid NATGateway layer setting both
// values wins.
func FuzzNATLimits(f *testing.F) {
	f.Add("2", "4", "", "3", uint8(0b1011))
	f.Add("x", "", "", "1", uint8(0b1001))
	f.Add("5", "2", "0", "0", uint8(0b1111))
	f.Add("-1", "99999999999", " 1", "+2", uint8(0b1111))
	f.Fuzz(func(t *testing.T, memberMin, memberMax, gwMin, gwMax string, set uint8) {
		annotations := func(min, max string, setMin, setMax bool) map[string]string {
			a := map[string]string{}
			if setMin {
				a[AnnotationNATMinPublicIPs] = min
			}
			if setMax {
				a[AnnotationNATMaxPublicIPs] = max
			}
			return a
		}
		member := annotations(memberMin, memberMax, set&1 != 0, set&2 != 0)
		gateway := annotations(gwMin, gwMax, set&4 != 0, set&8 != 0)
		got, problems := natLimits(DefaultNATLimits, natLayer{"member", member}, natLayer{"gateway", gateway})
		if got.Min < 0 || got.Min > got.Max {
			t.Fatalf("natLimits(%v, %v) = %+v", member, gateway, got)
		}
		for _, p := range problems {
			if !strings.HasPrefix(p, "member: ") && !strings.HasPrefix(p, "gateway: ") {
				t.Fatalf("problem %q does not name its source", p)
			}
		}
		parse := func(s string) (int32, bool) {
			n, err := strconv.ParseInt(s, 10, 32)
			return int32(n), err == nil && n >= 0
		}
		min, minOK := parse(gwMin)
		max, maxOK := parse(gwMax)
		if len(gateway) == 2 && minOK && maxOK && min <= max && got != (NATLimits{min, max}) {
			t.Fatalf("a valid NATGateway layer %v does not win: %+v (problems %q)", gateway, got, problems)
		}
		if len(gateway) > 0 && (!minOK && set&4 != 0 || !maxOK && set&8 != 0) {
			if !strings.Contains(strings.Join(problems, "\n"), "gateway: ") {
				t.Fatalf("invalid NATGateway layer %v not reported: %q", gateway, problems)
			}
		}
	})
}

func FuzzSelected(f *testing.F) {
	f.Add("", "", false, "", false)
	f.Add("a", "a", true, "", false)
	f.Add("a", "b", true, "", false)
	f.Add("", "", false, "someone", true)
	f.Fuzz(func(t *testing.T, filter, label string, hasLabel bool, managedBy string, hasManagedBy bool) {
		obj := &metav1.PartialObjectMetadata{}
		if hasLabel {
			obj.Labels = map[string]string{LabelWatchFilter: label}
		}
		if hasManagedBy {
			obj.Annotations = map[string]string{AnnotationManagedBy: managedBy}
		}
		want := (filter == "" || hasLabel && label == filter) && !hasManagedBy
		if got := Selected(filter, obj); got != want {
			t.Fatalf("Selected(%q, labels %v, annotations %v) = %v, want %v", filter, obj.Labels, obj.Annotations, got, want)
		}
	})
}

// FuzzOriginOf reads arbitrary origin metadata of an apinet object, in
// both layouts, as the peer watches do (MapToOrigin): an object labelled for
// another member is never mapped, nor one without a cluster label unless the
// member's namespace was taken over, and the name annotation wins over the
// label of apinetlet v0.2.4's layout.
func FuzzOriginOf(f *testing.F) {
	f.Add("uid-1", "default", "net", "", "", true, false)
	f.Add("uid-1", "default", "", "net", "fleet.m", true, false)
	f.Add("", "", "", "", "fleet.other", true, true)
	f.Add("uid-1", "ns", "a", "b", "", false, false)
	f.Add("uid-1", "ns", "a", "b", "", false, true)
	f.Fuzz(func(t *testing.T, uid, ns, nameAnnotation, nameLabel, cluster string, hasCluster, takenOver bool) {
		labels := map[string]string{OriginNetwork.UIDLabel(): uid, OriginNetwork.NamespaceLabel(): ns, OriginNetwork.NameKey(): nameLabel}
		if hasCluster {
			labels[clusterprofiles.LabelCluster] = cluster
		}
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: labels,
			Annotations: map[string]string{OriginNetwork.NameKey(): nameAnnotation}}}

		name := nameAnnotation
		if name == "" {
			name = nameLabel
		}
		key, ok := OriginNetwork.Of(obj)
		if wantOK := ns != "" && name != ""; ok != wantOK || ok && key != (types.NamespacedName{Namespace: ns, Name: name}) {
			t.Fatalf("Of(%v, %v) = %v, %v", obj.Labels, obj.Annotations, key, ok)
		}
		src := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
		if !OriginNetwork.StemsFrom(obj, src) {
			t.Fatalf("StemsFrom: object labelled with uid %q does not stem from it", uid)
		}
		m := &clusterprofiles.Member{Label: "fleet.m", TakenOver: takenOver}
		reqs := MapToOrigin[*metav1.PartialObjectMetadata](OriginNetwork)(context.Background(), m, obj)
		// Labelled for this member, or unlabelled after a take-over.
		mine := hasCluster && cluster == m.Label || !hasCluster && takenOver
		if mine != BelongsTo(m, obj) {
			t.Fatalf("BelongsTo(cluster label %q, present %v, taken over %v) = %v", cluster, hasCluster, takenOver, !mine)
		}
		if want := mine && ok; (len(reqs) == 1) != want || len(reqs) > 1 || want && reqs[0].NamespacedName != key {
			t.Fatalf("MapToOrigin = %v (mine %v, origin %v %v)", reqs, mine, key, ok)
		}
	})
}
