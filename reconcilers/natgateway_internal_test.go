package reconcilers

import (
	"math"
	"reflect"
	"strings"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// natGatewayMeta is the apinet metadata of the NATGateway default/nat
// (UID gw-uid) of testMember.
func natGatewayMeta() metav1.ObjectMeta {
	o := OriginNATGateway
	return metav1.ObjectMeta{
		Namespace: "apinet-ns", Name: "gw-uid",
		Labels:      map[string]string{o.UIDLabel(): "gw-uid", o.NamespaceLabel(): "default", clusterprofiles.LabelCluster: "fleet.m1"},
		Annotations: map[string]string{o.NameKey(): "nat"},
	}
}

// TestNATLimits pins the layering: the member's profile (the operator's)
// replaces the hub's flags; the NATGateway's annotations (the tenant's) may
// only narrow the range in force, a value outside it is clamped to the
// bound and refused; invalid values are problems and their layer ignored.
func TestNATLimits(t *testing.T) {
	hub := NATLimits{Min: 1, Max: 10}
	annotations := func(min, max string) map[string]string {
		a := map[string]string{}
		if min != "" {
			a[AnnotationNATMinPublicIPs] = min
		}
		if max != "" {
			a[AnnotationNATMaxPublicIPs] = max
		}
		return a
	}
	for _, tc := range []struct {
		name              string
		member, gateway   map[string]string
		want, wantCeiling NATLimits
		problems          int
		refused           []string
	}{
		{name: "hub default", want: hub, wantCeiling: hub},
		{name: "member narrows", member: annotations("2", "4"), want: NATLimits{2, 4}, wantCeiling: NATLimits{2, 4}},
		{name: "member raises: the operator's own", member: annotations("", "50"), want: NATLimits{1, 50}, wantCeiling: NATLimits{1, 50}},
		{name: "member lowers the floor", member: annotations("0", ""), want: NATLimits{0, 10}, wantCeiling: NATLimits{0, 10}},
		{name: "gateway narrows max", member: annotations("2", "4"), gateway: annotations("", "3"), want: NATLimits{2, 3}, wantCeiling: NATLimits{2, 4}},
		{name: "gateway narrows both", gateway: annotations("3", "5"), want: NATLimits{3, 5}, wantCeiling: hub},
		{name: "gateway raises min up to max", gateway: annotations("10", ""), want: NATLimits{10, 10}, wantCeiling: hub},
		{name: "gateway lowers max down to min", gateway: annotations("", "1"), want: NATLimits{1, 1}, wantCeiling: hub},
		{name: "gateway repeats the range", gateway: annotations("1", "10"), want: hub, wantCeiling: hub},
		{
			name: "gateway raises max", gateway: annotations("", "11"), want: hub, wantCeiling: hub,
			refused: []string{"gateway: " + AnnotationNATMaxPublicIPs + "=11 is above the operator's maximum of 10"},
		},
		{
			name: "gateway asks hundreds", gateway: annotations("200", "500"), want: NATLimits{10, 10}, wantCeiling: hub,
			refused: []string{
				"gateway: " + AnnotationNATMinPublicIPs + "=200 is above the operator's maximum of 10",
				"gateway: " + AnnotationNATMaxPublicIPs + "=500 is above the operator's maximum of 10",
			},
		},
		{
			name: "gateway lowers min below the floor", gateway: annotations("0", "4"), want: NATLimits{1, 4}, wantCeiling: hub,
			refused: []string{"gateway: " + AnnotationNATMinPublicIPs + "=0 is below the operator's minimum of 1"},
		},
		{
			name: "gateway zero below the floor", gateway: annotations("0", "0"), want: NATLimits{1, 1}, wantCeiling: hub,
			refused: []string{
				"gateway: " + AnnotationNATMinPublicIPs + "=0 is below the operator's minimum of 1",
				"gateway: " + AnnotationNATMaxPublicIPs + "=0 is below the operator's minimum of 1",
			},
		},
		{name: "zero is allowed by the operator", member: annotations("0", "0"), gateway: annotations("0", "0"), want: NATLimits{0, 0}, wantCeiling: NATLimits{0, 0}},
		{
			name: "gateway max below member min", member: annotations("2", ""), gateway: annotations("", "1"), want: NATLimits{2, 2}, wantCeiling: NATLimits{2, 10},
			refused: []string{"gateway: " + AnnotationNATMaxPublicIPs + "=1 is below the operator's minimum of 2"},
		},
		{
			name: "gateway above the member's raised max", member: annotations("", "50"), gateway: annotations("20", "80"), want: NATLimits{20, 50}, wantCeiling: NATLimits{1, 50},
			refused: []string{"gateway: " + AnnotationNATMaxPublicIPs + "=80 is above the operator's maximum of 50"},
		},
		{name: "not a number", gateway: annotations("many", ""), want: hub, wantCeiling: hub, problems: 1},
		{name: "negative", gateway: annotations("-1", ""), want: hub, wantCeiling: hub, problems: 1},
		{name: "beyond int32", gateway: annotations("", "99999999999"), want: hub, wantCeiling: hub, problems: 1},
		{name: "gateway min above max", gateway: annotations("5", "2"), want: hub, wantCeiling: hub, problems: 1},
		{name: "gateway min above max, both out of range", gateway: annotations("500", "200"), want: hub, wantCeiling: hub, problems: 1},
		{name: "member min above max", member: annotations("5", "2"), want: hub, wantCeiling: hub, problems: 1},
		{name: "member min above the hub's max", member: annotations("11", ""), want: hub, wantCeiling: hub, problems: 1},
		{name: "bad member, good gateway", member: annotations("x", ""), gateway: annotations("", "1"), want: NATLimits{1, 1}, wantCeiling: hub, problems: 1},
		{
			name: "bad member, gateway bounded by the hub", member: annotations("x", "50"), gateway: annotations("", "20"), want: hub, wantCeiling: hub, problems: 1,
			refused: []string{"gateway: " + AnnotationNATMaxPublicIPs + "=20 is above the operator's maximum of 10"},
		},
	} {
		got := natLimits(hub, natLayer{source: "member", annotations: tc.member}, natLayer{source: "gateway", annotations: tc.gateway, tenant: true})
		if got.Limits != tc.want || got.Operator != tc.wantCeiling || len(got.Problems) != tc.problems || !reflect.DeepEqual(got.Refused, tc.refused) {
			t.Errorf("%s: natLimits = %+v; want limits %+v, ceiling %+v, %d problems, refused %q", tc.name, got, tc.want, tc.wantCeiling, tc.problems, tc.refused)
		}
		memberBad := false
		for _, p := range got.Problems {
			memberBad = memberBad || strings.HasPrefix(p, "member: ")
		}
		if got.OperatorValid == memberBad {
			t.Errorf("%s: OperatorValid = %v with problems %q", tc.name, got.OperatorValid, got.Problems)
		}
	}
}

// TestNATLimitsLayers pins the layering of hub flags, peer, member and
// NATGateway: each layer may narrow; a ceiling is never raised by a layer
// below it (refused, and the ceiling stays); defaults come from the most
// specific layer that sets them, clamped under the ceilings in force.
func TestNATLimitsLayers(t *testing.T) {
	hub := NATLimits{Min: 1, Max: 10}
	a := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	const (
		lo, hi, ceil = AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs, AnnotationNATPublicIPsCeiling
		noCeiling    = int32(math.MaxInt32)
	)
	for _, tc := range []struct {
		name                  string
		peer, member, gateway map[string]string
		want, wantOperator    NATLimits
		wantCeiling           int32
		refused               []string
		problems              int
	}{
		{name: "hub flags alone", want: hub, wantOperator: hub, wantCeiling: noCeiling},
		{name: "peer narrows the defaults", peer: a(lo, "2", hi, "6"), want: NATLimits{2, 6}, wantOperator: NATLimits{2, 6}, wantCeiling: noCeiling},
		{name: "peer ceiling clamps the hub's defaults", peer: a(ceil, "4"), want: NATLimits{1, 4}, wantOperator: NATLimits{1, 4}, wantCeiling: 4},
		{name: "peer ceiling zero", peer: a(ceil, "0"), want: NATLimits{0, 0}, wantOperator: NATLimits{0, 0}, wantCeiling: 0},
		{name: "peer raises the hub's defaults (no ceiling above)", peer: a(hi, "40"), want: NATLimits{1, 40}, wantOperator: NATLimits{1, 40}, wantCeiling: noCeiling},
		{name: "member narrows under the peer", peer: a(ceil, "8", hi, "6"), member: a(lo, "2", hi, "3"), want: NATLimits{2, 3}, wantOperator: NATLimits{2, 3}, wantCeiling: 8},
		{name: "member default wins, under the peer's ceiling", peer: a(ceil, "8", hi, "6"), member: a(hi, "8"), want: NATLimits{1, 8}, wantOperator: NATLimits{1, 8}, wantCeiling: 8},
		{name: "member lowers the ceiling", peer: a(ceil, "8"), member: a(ceil, "3"), want: NATLimits{1, 3}, wantOperator: NATLimits{1, 3}, wantCeiling: 3},
		{
			name: "member raises the peer's ceiling: refused", peer: a(ceil, "5"), member: a(ceil, "50"), want: NATLimits{1, 5}, wantOperator: NATLimits{1, 5}, wantCeiling: 5,
			refused: []string{"member: " + ceil + "=50 is above the ceiling of 5 set by peer"},
		},
		{
			name: "member default above the peer's ceiling: clamped and refused", peer: a(ceil, "5"), member: a(lo, "2", hi, "50"), want: NATLimits{2, 5}, wantOperator: NATLimits{2, 5}, wantCeiling: 5,
			refused: []string{"member: " + hi + "=50 is above the ceiling of 5 set by peer"},
		},
		{
			name: "member min above the peer's ceiling", peer: a(ceil, "5"), member: a(lo, "8"), want: NATLimits{5, 5}, wantOperator: NATLimits{5, 5}, wantCeiling: 5,
			refused: []string{"member: " + lo + "=8 is above the ceiling of 5 set by peer"},
		},
		{
			name: "member raises the ceiling and its defaults with it: both refused", peer: a(ceil, "5"), member: a(ceil, "50", hi, "40"), want: NATLimits{1, 5}, wantOperator: NATLimits{1, 5}, wantCeiling: 5,
			refused: []string{"member: " + ceil + "=50 is above the ceiling of 5 set by peer", "member: " + hi + "=40 is above the ceiling of 5 set by peer"},
		},
		{
			name: "member default above its own ceiling", member: a(ceil, "3", hi, "4"), want: NATLimits{1, 3}, wantOperator: NATLimits{1, 3}, wantCeiling: 3,
			refused: []string{"member: " + hi + "=4 is above the ceiling of 3 set by member"},
		},
		{name: "gateway narrows under both", peer: a(ceil, "8"), member: a(hi, "6"), gateway: a(lo, "2", hi, "4"), want: NATLimits{2, 4}, wantOperator: NATLimits{1, 6}, wantCeiling: 8},
		{
			name: "gateway asks above the peer's ceiling", peer: a(ceil, "3"), gateway: a(hi, "9"), want: NATLimits{1, 3}, wantOperator: NATLimits{1, 3}, wantCeiling: 3,
			refused: []string{"gateway: " + hi + "=9 is above the operator's maximum of 3"},
		},
		{name: "a NATGateway's ceiling is not read", peer: a(ceil, "3"), gateway: a(ceil, "1"), want: NATLimits{1, 3}, wantOperator: NATLimits{1, 3}, wantCeiling: 3},
		{name: "invalid member ceiling: the layer is ignored", peer: a(ceil, "5"), member: a(ceil, "x", hi, "2"), want: NATLimits{1, 5}, wantOperator: NATLimits{1, 5}, wantCeiling: 5, problems: 1},
		{name: "member min above max under a ceiling", peer: a(ceil, "5"), member: a(lo, "4", hi, "2"), want: NATLimits{1, 5}, wantOperator: NATLimits{1, 5}, wantCeiling: 5, problems: 1},
		{name: "peer min above the hub's max", peer: a(lo, "20"), want: hub, wantOperator: hub, wantCeiling: noCeiling, problems: 1},
	} {
		got := natLimits(hub,
			natLayer{source: "peer", annotations: tc.peer},
			natLayer{source: "member", annotations: tc.member},
			natLayer{source: "gateway", annotations: tc.gateway, tenant: true})
		if got.Limits != tc.want || got.Operator != tc.wantOperator || got.Ceiling != tc.wantCeiling || len(got.Problems) != tc.problems || !reflect.DeepEqual(got.Refused, tc.refused) {
			t.Errorf("%s: natLimits = %+v; want limits %+v, operator %+v, ceiling %d, %d problems, refused %q",
				tc.name, got, tc.want, tc.wantOperator, tc.wantCeiling, tc.problems, tc.refused)
		}
	}
}

// TestNATGatewayImmutableChanges pins the fields of an apinet NATGateway
// that apinet refuses to change: ipFamily and networkRef, not the ports.
func TestNATGatewayImmutableChanges(t *testing.T) {
	gw := func(family corev1.IPFamily, network string, ports int32) *apinetv1alpha1.NATGateway {
		return &apinetv1alpha1.NATGateway{Spec: apinetv1alpha1.NATGatewaySpec{
			IPFamily: family, NetworkRef: corev1.LocalObjectReference{Name: network}, PortsPerNetworkInterface: ports,
		}}
	}
	current := gw(corev1.IPv4Protocol, "nw-1", 2048)
	for _, tc := range []struct {
		name    string
		desired *apinetv1alpha1.NATGateway
		want    []immutableChange
		text    string
	}{
		{name: "same", desired: gw(corev1.IPv4Protocol, "nw-1", 2048)},
		{name: "ports are mutable", desired: gw(corev1.IPv4Protocol, "nw-1", 1024)},
		{
			name: "ip family", desired: gw(corev1.IPv6Protocol, "nw-1", 1024),
			want: []immutableChange{{Field: "spec.ipFamily", Have: "IPv4", Want: "IPv6"}},
			text: "spec.ipFamily is IPv4 in apinet, asked IPv6",
		},
		{
			name: "network recreated", desired: gw(corev1.IPv4Protocol, "nw-2", 2048),
			want: []immutableChange{{Field: "spec.networkRef.name", Have: "nw-1", Want: "nw-2"}},
			text: "spec.networkRef.name is nw-1 in apinet, asked nw-2",
		},
		{
			name: "both", desired: gw(corev1.IPv6Protocol, "nw-2", 2048),
			want: []immutableChange{{Field: "spec.ipFamily", Have: "IPv4", Want: "IPv6"}, {Field: "spec.networkRef.name", Have: "nw-1", Want: "nw-2"}},
			text: "spec.ipFamily is IPv4 in apinet, asked IPv6; spec.networkRef.name is nw-1 in apinet, asked nw-2",
		},
	} {
		got := natGatewayImmutableChanges(current, tc.desired)
		if !reflect.DeepEqual(got, tc.want) || immutableRefusal(got) != tc.text {
			t.Errorf("%s: natGatewayImmutableChanges = %+v (%q), want %+v (%q)", tc.name, got, immutableRefusal(got), tc.want, tc.text)
		}
		kept := tc.desired.DeepCopy()
		keepNATGatewayImmutable(current, kept)
		if kept.Spec.IPFamily != current.Spec.IPFamily || kept.Spec.NetworkRef != current.Spec.NetworkRef || kept.Spec.PortsPerNetworkInterface != tc.desired.Spec.PortsPerNetworkInterface {
			t.Errorf("%s: keepNATGatewayImmutable = %+v: want current's family and network, desired's ports", tc.name, kept.Spec)
		}
		if len(natGatewayImmutableChanges(current, kept)) != 0 {
			t.Errorf("%s: changes left after keepNATGatewayImmutable", tc.name)
		}
	}
}

// TestNATLimitsWithin pins the clamp of kept or asked limits into a range.
func TestNATLimitsWithin(t *testing.T) {
	r := NATLimits{Min: 2, Max: 5}
	for _, tc := range []struct{ in, want NATLimits }{
		{NATLimits{3, 4}, NATLimits{3, 4}},
		{NATLimits{0, 1}, NATLimits{2, 2}},
		{NATLimits{200, 500}, NATLimits{5, 5}},
		{NATLimits{0, 500}, r},
		{NATLimits{2, 5}, r},
	} {
		if got := tc.in.within(r); got != tc.want {
			t.Errorf("%+v.within(%+v) = %+v, want %+v", tc.in, r, got, tc.want)
		}
	}
}

// TestAPINetNATGateway pins the apinet NATGateway of an IronCore one: its
// IP family, the apinet network, apinet's default ports per NIC unless the
// gateway sets its own, and never spec.ips (the autoscaler's), whatever the
// gateway reports.
func TestAPINetNATGateway(t *testing.T) {
	for _, tc := range []struct {
		name      string
		family    corev1.IPFamily
		ports     *int32
		wantPorts int32
	}{
		{"default ports", corev1.IPv4Protocol, nil, networkingv1alpha1.DefaultPortsPerNetworkInterface},
		{"own ports", corev1.IPv4Protocol, ptr.To[int32](512), 512},
		{"IPv6", corev1.IPv6Protocol, ptr.To[int32](4096), 4096},
	} {
		gw := &networkingv1alpha1.NATGateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nat", UID: "gw-uid"},
			Spec: networkingv1alpha1.NATGatewaySpec{
				Type: networkingv1alpha1.NATGatewayTypePublic, IPFamily: tc.family,
				NetworkRef: corev1.LocalObjectReference{Name: "nw"}, PortsPerNetworkInterface: tc.ports,
			},
			Status: networkingv1alpha1.NATGatewayStatus{IPs: commonv1alpha1.MustParseIPs("192.0.2.1")},
		}
		want := &apinetv1alpha1.NATGateway{
			ObjectMeta: natGatewayMeta(),
			Spec: apinetv1alpha1.NATGatewaySpec{
				IPFamily:                 tc.family,
				NetworkRef:               corev1.LocalObjectReference{Name: "nw-uid"},
				PortsPerNetworkInterface: tc.wantPorts,
			},
		}
		if got := apinetNATGateway(testMember(), gw, "nw-uid"); !sameJSON(got, want) {
			t.Errorf("%s: apinetNATGateway = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestAPINetNATGatewayAutoscaler pins the autoscaler of an applied apinet
// NATGateway: controlled by it (its UID), naming it, within the limits.
func TestAPINetNATGatewayAutoscaler(t *testing.T) {
	gw := &networkingv1alpha1.NATGateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nat", UID: "gw-uid"}}
	an := &apinetv1alpha1.NATGateway{ObjectMeta: natGatewayMeta()}
	an.UID = "an-gw-uid"
	for _, tc := range []struct {
		name    string
		limits  NATLimits
		refused string
	}{
		{"apinetlet's defaults", DefaultNATLimits, ""},
		{"zero", NATLimits{Min: 0, Max: 0}, ""},
		{"custom", NATLimits{Min: 2, Max: 5}, ""},
		{"refused", NATLimits{Min: 10, Max: 10}, "this NATGateway: max 500 refused"},
	} {
		want := &apinetv1alpha1.NATGatewayAutoscaler{
			ObjectMeta: natGatewayMeta(),
			Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{
				NATGatewayRef: corev1.LocalObjectReference{Name: "gw-uid"},
				MinPublicIPs:  ptr.To(tc.limits.Min),
				MaxPublicIPs:  ptr.To(tc.limits.Max),
			},
		}
		if tc.refused != "" {
			want.Annotations[AnnotationNATRefused] = tc.refused
		}
		want.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: apinetv1alpha1.SchemeGroupVersion.String(), Kind: "NATGateway", Name: "gw-uid", UID: "an-gw-uid",
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}
		refused := refusal{annotation: AnnotationNATRefused, reason: ReasonNATLimitRefused, text: tc.refused}
		if got := apinetNATGatewayAutoscaler(testMember(), gw, an, tc.limits, refused); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: apinetNATGatewayAutoscaler = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestNATGatewayStatusIPs pins that status.ips are the addresses the
// autoscaler gave the apinet NATGateway (valid ones only).
func TestNATGatewayStatusIPs(t *testing.T) {
	for _, tc := range []struct {
		name string
		ips  []apinetv1alpha1.NATGatewayIP
		want []commonv1alpha1.IP
	}{
		{name: "none"},
		{
			name: "valid ones only",
			ips: []apinetv1alpha1.NATGatewayIP{
				{Name: "ip-1", IP: apinetnet.MustParseIP("192.0.2.1")},
				{Name: "not-yet"},
				{Name: "ip-2", IP: apinetnet.MustParseIP("192.0.2.2")},
			},
			want: commonv1alpha1.MustParseIPs("192.0.2.1", "192.0.2.2"),
		},
	} {
		an := &apinetv1alpha1.NATGateway{Spec: apinetv1alpha1.NATGatewaySpec{IPs: tc.ips}}
		if got := natGatewayStatusIPs(an); !sameJSON(got, tc.want) {
			t.Errorf("%s: natGatewayStatusIPs = %s, want %s", tc.name, asJSON(got), asJSON(tc.want))
		}
	}
}

// TestNATShort pins when a NAT gateway counts as short of public IPs:
// fewer addresses than the autoscaler's minimum, or NICs waiting for a NAT
// slot while under its maximum; an entry without an address is not held.
func TestNATShort(t *testing.T) {
	ips := func(n int, pending int) []apinetv1alpha1.NATGatewayIP {
		var out []apinetv1alpha1.NATGatewayIP
		for i := range n {
			out = append(out, apinetv1alpha1.NATGatewayIP{Name: "ip", IP: apinetnet.MustParseIP("192.0.2." + string(rune('1'+i)))})
		}
		for range pending {
			out = append(out, apinetv1alpha1.NATGatewayIP{Name: "pending"})
		}
		return out
	}
	scaler := func(lo, hi *int32) *apinetv1alpha1.NATGatewayAutoscaler {
		return &apinetv1alpha1.NATGatewayAutoscaler{Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{MinPublicIPs: lo, MaxPublicIPs: hi}}
	}
	for _, tc := range []struct {
		name            string
		held, pending   int
		requested, used int64
		autoscaler      *apinetv1alpha1.NATGatewayAutoscaler
		want            bool
	}{
		{name: "no autoscaler", held: 0, autoscaler: nil},
		{name: "minimum held", held: 1, autoscaler: scaler(ptr.To[int32](1), ptr.To[int32](10))},
		{name: "below the minimum", held: 0, autoscaler: scaler(ptr.To[int32](1), ptr.To[int32](10)), want: true},
		{name: "an entry without address is not held", held: 1, pending: 1, autoscaler: scaler(ptr.To[int32](2), ptr.To[int32](10)), want: true},
		{name: "NICs wait, room under the maximum", held: 1, requested: 40, used: 31, autoscaler: scaler(ptr.To[int32](1), ptr.To[int32](10)), want: true},
		{name: "NICs wait at the maximum: the limit, not a shortage", held: 2, requested: 80, used: 62, autoscaler: scaler(ptr.To[int32](1), ptr.To[int32](2))},
		{name: "every NIC served", held: 2, requested: 40, used: 40, autoscaler: scaler(ptr.To[int32](1), ptr.To[int32](10))},
		{name: "zero minimum, nothing asked", held: 0, autoscaler: scaler(ptr.To[int32](0), ptr.To[int32](0))},
		{name: "no bounds, NICs wait", held: 3, requested: 5, used: 4, autoscaler: scaler(nil, nil), want: true},
	} {
		gw := &apinetv1alpha1.NATGateway{
			Spec:   apinetv1alpha1.NATGatewaySpec{IPs: ips(tc.held, tc.pending)},
			Status: apinetv1alpha1.NATGatewayStatus{RequestedNATIPs: tc.requested, UsedNATIPs: tc.used},
		}
		if got := natShort(gw, tc.autoscaler); got != tc.want {
			t.Errorf("%s: natShort = %t, want %t", tc.name, got, tc.want)
		}
	}
}
