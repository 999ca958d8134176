package reconcilers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Fuzz targets for the outside input the reconcilers read besides provider
// IDs (providerid_test.go): NAT annotations, the watch-filter label and the
// managed-by annotation, and the origin metadata of apinet objects.

// FuzzNATLimits layers arbitrary profile and NATGateway annotations over
// arbitrary hub limits: the result is always usable (0 <= min <= max) and
// always within the operator's range (the hub's limits, replaced by a valid
// profile layer); an invalid layer is reported and ignored; a valid
// NATGateway layer inside the range wins, and one reaching outside it is
// refused (reported) and clamped.
func FuzzNATLimits(f *testing.F) {
	f.Add(uint16(1), uint16(10), "2", "4", "", "3", uint8(0b1011))
	f.Add(uint16(1), uint16(10), "x", "", "", "1", uint8(0b1001))
	f.Add(uint16(1), uint16(10), "5", "2", "0", "0", uint8(0b1111))
	f.Add(uint16(1), uint16(10), "-1", "99999999999", " 1", "+2", uint8(0b1111))
	f.Add(uint16(1), uint16(10), "", "", "200", "500", uint8(0b1100))
	f.Add(uint16(0), uint16(0), "", "50", "0", "80", uint8(0b1110))
	f.Fuzz(func(t *testing.T, hubMin, hubMax uint16, memberMin, memberMax, gwMin, gwMax string, set uint8) {
		if hubMin > hubMax {
			hubMin, hubMax = hubMax, hubMin // run validates the flags
		}
		hub := NATLimits{Min: int32(hubMin), Max: int32(hubMax)}
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
		got := natLimits(hub, natLayer{source: "member", annotations: member}, natLayer{source: "gateway", annotations: gateway, tenant: true})
		lim := got.Limits
		if lim.Min < 0 || lim.Min > lim.Max {
			t.Fatalf("natLimits(%v, %v, %v) = %+v", hub, member, gateway, got)
		}
		for _, p := range append(slices.Clone(got.Problems), got.Refused...) {
			if !strings.HasPrefix(p, "member: ") && !strings.HasPrefix(p, "gateway: ") {
				t.Fatalf("problem %q does not name its source", p)
			}
		}
		for _, p := range got.Refused {
			if !strings.HasPrefix(p, "gateway: ") {
				t.Fatalf("refusal %q of the operator's own layer", p)
			}
		}
		parse := func(s string) (int32, bool) {
			n, err := strconv.ParseInt(s, 10, 32)
			return int32(n), err == nil && n >= 0
		}

		// The operator's range, computed independently: the hub's
		// limits, replaced by a valid profile layer.
		ceiling, memberValid := hub, true
		if v, ok := member[AnnotationNATMinPublicIPs]; ok {
			n, valid := parse(v)
			ceiling.Min, memberValid = n, memberValid && valid
		}
		if v, ok := member[AnnotationNATMaxPublicIPs]; ok {
			n, valid := parse(v)
			ceiling.Max, memberValid = n, memberValid && valid
		}
		if !memberValid || ceiling.Min > ceiling.Max {
			ceiling = hub
			if got.OperatorValid {
				t.Fatalf("invalid member layer %v, yet OperatorValid: %+v", member, got)
			}
		}
		if got.Operator != ceiling {
			t.Fatalf("natLimits(%v, %v, %v): operator range %+v, want %+v", hub, member, gateway, got.Operator, ceiling)
		}
		if lim.Min < ceiling.Min || lim.Max > ceiling.Max {
			t.Fatalf("natLimits(%v, %v, %v) = %+v: outside the operator's range %+v", hub, member, gateway, lim, ceiling)
		}

		min, minOK := parse(gwMin)
		max, maxOK := parse(gwMax)
		setMin, setMax := set&4 != 0, set&8 != 0
		gwValid := (!setMin || minOK) && (!setMax || maxOK) && (!setMin || !setMax || min <= max)
		inside := func(n int32) bool { return n >= ceiling.Min && n <= ceiling.Max }
		switch {
		case !gwValid:
			if !strings.Contains(strings.Join(got.Problems, "\n"), "gateway: ") {
				t.Fatalf("invalid NATGateway layer %v not reported: %q", gateway, got.Problems)
			}
			if len(got.Refused) > 0 || lim != ceiling {
				t.Fatalf("invalid NATGateway layer %v not ignored: %+v", gateway, got)
			}
		case (!setMin || inside(min)) && (!setMax || inside(max)):
			want := ceiling
			if setMin {
				want.Min = min
			}
			if setMax {
				want.Max = max
			}
			if lim != want || len(got.Refused) > 0 {
				t.Fatalf("a NATGateway layer %v within %+v does not win: %+v", gateway, ceiling, got)
			}
		default:
			if len(got.Refused) == 0 {
				t.Fatalf("a NATGateway layer %v outside %+v not refused: %+v", gateway, ceiling, got)
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

// FuzzForeignOrigins proves a take-over on arbitrary origin metadata: an
// object is foreign exactly when it names a network origin that is not the
// member's Network default/mine with uid "uid-mine" (no origin: neutral),
// and the description names the object.
func FuzzForeignOrigins(f *testing.F) {
	f.Add("uid-mine", "default", "mine", "", true)
	f.Add("uid-mine", "default", "", "mine", true)
	f.Add("uid-other", "default", "mine", "", true)
	f.Add("uid-mine", "", "mine", "", true)
	f.Add("", "", "", "", false)
	f.Fuzz(func(t *testing.T, uid, ns, nameAnnotation, nameLabel string, hasUID bool) {
		labels := map[string]string{OriginNetwork.NamespaceLabel(): ns, OriginNetwork.NameKey(): nameLabel}
		if hasUID {
			labels[OriginNetwork.UIDLabel()] = uid
		}
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "obj", Labels: labels,
			Annotations: map[string]string{OriginNetwork.NameKey(): nameAnnotation}}}
		foreign, err := foreignOrigins([]client.Object{obj}, func(o Origin, key types.NamespacedName) (types.UID, bool, error) {
			if o == OriginNetwork && key == (types.NamespacedName{Namespace: "default", Name: "mine"}) {
				return "uid-mine", true, nil
			}
			return "", false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		key, ok := OriginNetwork.Of(obj)
		mine := ok && key == (types.NamespacedName{Namespace: "default", Name: "mine"}) && uid == "uid-mine"
		if want := hasUID && !mine; (len(foreign) == 1) != want || len(foreign) > 1 {
			t.Fatalf("foreignOrigins(%v, %v) = %q, want foreign %v", obj.Labels, obj.Annotations, foreign, want)
		}
		if len(foreign) == 1 && !strings.HasPrefix(foreign[0], "obj (from network") {
			t.Fatalf("description %q does not name the object", foreign[0])
		}
	})
}
