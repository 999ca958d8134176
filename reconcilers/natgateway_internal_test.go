package reconcilers

import (
	"reflect"
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
		name            string
		member, gateway map[string]string
		want            NATLimits
		problems        int
	}{
		{name: "hub default", want: hub},
		{name: "member override", member: annotations("2", "4"), want: NATLimits{2, 4}},
		{name: "gateway wins over member", member: annotations("2", "4"), gateway: annotations("", "3"), want: NATLimits{2, 3}},
		{name: "gateway max below member min", member: annotations("2", ""), gateway: annotations("", "1"), want: NATLimits{2, 10}, problems: 1},
		{name: "not a number", gateway: annotations("many", ""), want: hub, problems: 1},
		{name: "negative", gateway: annotations("-1", ""), want: hub, problems: 1},
		{name: "min above max", gateway: annotations("5", "2"), want: hub, problems: 1},
		{name: "zero is allowed", gateway: annotations("0", "0"), want: NATLimits{0, 0}},
		{name: "bad member, good gateway", member: annotations("x", ""), gateway: annotations("", "1"), want: NATLimits{1, 1}, problems: 1},
	} {
		got, problems := natLimits(hub, natLayer{"member", tc.member}, natLayer{"gateway", tc.gateway})
		if !reflect.DeepEqual(got, tc.want) || len(problems) != tc.problems {
			t.Errorf("%s: natLimits = %+v, %q; want %+v with %d problems", tc.name, got, problems, tc.want, tc.problems)
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
		name   string
		limits NATLimits
	}{
		{"apinetlet's defaults", DefaultNATLimits},
		{"zero", NATLimits{Min: 0, Max: 0}},
		{"custom", NATLimits{Min: 2, Max: 5}},
	} {
		want := &apinetv1alpha1.NATGatewayAutoscaler{
			ObjectMeta: natGatewayMeta(),
			Spec: apinetv1alpha1.NATGatewayAutoscalerSpec{
				NATGatewayRef: corev1.LocalObjectReference{Name: "gw-uid"},
				MinPublicIPs:  ptr.To(tc.limits.Min),
				MaxPublicIPs:  ptr.To(tc.limits.Max),
			},
		}
		want.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: apinetv1alpha1.SchemeGroupVersion.String(), Kind: "NATGateway", Name: "gw-uid", UID: "an-gw-uid",
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}
		if got := apinetNATGatewayAutoscaler(testMember(), gw, an, tc.limits); !reflect.DeepEqual(got, want) {
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
