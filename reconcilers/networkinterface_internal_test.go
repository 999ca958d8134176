package reconcilers

import (
	"reflect"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNICState pins how an apinet NIC's state maps to IronCore: Ready is
// Available, Error is Error, anything else Pending.
func TestNICState(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   apinetv1alpha1.NetworkInterfaceState
		want networkingv1alpha1.NetworkInterfaceState
	}{
		{"Ready", apinetv1alpha1.NetworkInterfaceStateReady, networkingv1alpha1.NetworkInterfaceStateAvailable},
		{"Error", apinetv1alpha1.NetworkInterfaceStateError, networkingv1alpha1.NetworkInterfaceStateError},
		{"Pending", apinetv1alpha1.NetworkInterfaceStatePending, networkingv1alpha1.NetworkInterfaceStatePending},
		{"no state yet", "", networkingv1alpha1.NetworkInterfaceStatePending},
		{"unknown", "Exploded", networkingv1alpha1.NetworkInterfaceStatePending},
	} {
		if got := nicState(tc.in); got != tc.want {
			t.Errorf("%s: nicState = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSetNICStatus pins the status of a NIC with a claimed apinet NIC: its
// state (the transition time moves only when the state changes), its spec
// IPs and prefixes, and the first IPv4 public IP as virtualIP (none when
// there are only IPv6 ones).
func TestSetNICStatus(t *testing.T) {
	old := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name           string
		before         networkingv1alpha1.NetworkInterfaceState
		anState        apinetv1alpha1.NetworkInterfaceState
		publicIPs      []string
		wantState      networkingv1alpha1.NetworkInterfaceState
		wantTransition bool
		wantVIP        string // "" for none
	}{
		{"becomes Available", networkingv1alpha1.NetworkInterfaceStatePending, apinetv1alpha1.NetworkInterfaceStateReady,
			[]string{"2001:db8::1", "192.0.2.1", "192.0.2.2"}, networkingv1alpha1.NetworkInterfaceStateAvailable, true, "192.0.2.1"},
		{"stays Available", networkingv1alpha1.NetworkInterfaceStateAvailable, apinetv1alpha1.NetworkInterfaceStateReady,
			[]string{"192.0.2.1"}, networkingv1alpha1.NetworkInterfaceStateAvailable, false, "192.0.2.1"},
		{"only IPv6 public IPs: no virtualIP", networkingv1alpha1.NetworkInterfaceStateAvailable, apinetv1alpha1.NetworkInterfaceStateReady,
			[]string{"2001:db8::1"}, networkingv1alpha1.NetworkInterfaceStateAvailable, false, ""},
		{"no public IPs", networkingv1alpha1.NetworkInterfaceStateAvailable, apinetv1alpha1.NetworkInterfaceStateError,
			nil, networkingv1alpha1.NetworkInterfaceStateError, true, ""},
	} {
		an := &apinetv1alpha1.NetworkInterface{
			Spec: apinetv1alpha1.NetworkInterfaceSpec{
				IPs:      []apinetnet.IP{apinetnet.MustParseIP("10.0.0.1"), apinetnet.MustParseIP("fd00::1")},
				Prefixes: []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("10.1.0.0/24")},
			},
			Status: apinetv1alpha1.NetworkInterfaceStatus{State: tc.anState},
		}
		for _, ip := range tc.publicIPs {
			an.Status.PublicIPs = append(an.Status.PublicIPs, apinetnet.MustParseIP(ip))
		}
		nic := &networkingv1alpha1.NetworkInterface{Status: networkingv1alpha1.NetworkInterfaceStatus{
			State: tc.before, LastStateTransitionTime: old.DeepCopy(),
			VirtualIP: commonv1alpha1.MustParseNewIP("198.51.100.1"), // a stale one: replaced or cleared
		}}
		setNICStatus(nic, an)
		if nic.Status.State != tc.wantState {
			t.Errorf("%s: state %q, want %q", tc.name, nic.Status.State, tc.wantState)
		}
		if moved := !nic.Status.LastStateTransitionTime.Equal(&old); moved != tc.wantTransition {
			t.Errorf("%s: lastStateTransitionTime moved = %v, want %v", tc.name, moved, tc.wantTransition)
		}
		if want := commonv1alpha1.MustParseIPs("10.0.0.1", "fd00::1"); !sameJSON(nic.Status.IPs, want) {
			t.Errorf("%s: ips %s, want %s", tc.name, asJSON(nic.Status.IPs), asJSON(want))
		}
		if want := []commonv1alpha1.IPPrefix{commonv1alpha1.MustParseIPPrefix("10.1.0.0/24")}; !sameJSON(nic.Status.Prefixes, want) {
			t.Errorf("%s: prefixes %s, want %s", tc.name, asJSON(nic.Status.Prefixes), asJSON(want))
		}
		var wantVIP *commonv1alpha1.IP
		if tc.wantVIP != "" {
			wantVIP = commonv1alpha1.MustParseNewIP(tc.wantVIP)
		}
		if !sameJSON(nic.Status.VirtualIP, wantVIP) {
			t.Errorf("%s: virtualIP %s, want %s", tc.name, asJSON(nic.Status.VirtualIP), asJSON(wantVIP))
		}
	}
}

// TestSetNICPending pins the status of a NIC without an apinet NIC:
// Pending (the transition time moves only when the state changes), and no
// IPs, prefixes or virtualIP.
func TestSetNICPending(t *testing.T) {
	old := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name           string
		before         networkingv1alpha1.NetworkInterfaceState
		wantTransition bool
	}{
		{"was Available", networkingv1alpha1.NetworkInterfaceStateAvailable, true},
		{"was Pending", networkingv1alpha1.NetworkInterfaceStatePending, false},
	} {
		nic := &networkingv1alpha1.NetworkInterface{Status: networkingv1alpha1.NetworkInterfaceStatus{
			State: tc.before, LastStateTransitionTime: old.DeepCopy(),
			IPs:       commonv1alpha1.MustParseIPs("10.0.0.1"),
			Prefixes:  []commonv1alpha1.IPPrefix{commonv1alpha1.MustParseIPPrefix("10.1.0.0/24")},
			VirtualIP: commonv1alpha1.MustParseNewIP("192.0.2.1"),
		}}
		setNICPending(nic)
		if nic.Status.State != networkingv1alpha1.NetworkInterfaceStatePending {
			t.Errorf("%s: state %q, want Pending", tc.name, nic.Status.State)
		}
		if moved := !nic.Status.LastStateTransitionTime.Equal(&old); moved != tc.wantTransition {
			t.Errorf("%s: lastStateTransitionTime moved = %v, want %v", tc.name, moved, tc.wantTransition)
		}
		if nic.Status.IPs != nil || nic.Status.Prefixes != nil || nic.Status.VirtualIP != nil {
			t.Errorf("%s: ips %s, prefixes %s, virtualIP %s; want none", tc.name, asJSON(nic.Status.IPs), asJSON(nic.Status.Prefixes), asJSON(nic.Status.VirtualIP))
		}
	}
}

// TestSetAPINetNICSpec pins what the hub writes into a claimed apinet NIC:
// its public IPs and prefixes replace the old ones, and the NAT entries of
// a family that now has a public IP go (apinet forbids both); the others
// stay.
func TestSetAPINetNICSpec(t *testing.T) {
	nat4 := apinetv1alpha1.NetworkInterfaceNAT{IPFamily: corev1.IPv4Protocol, ClaimRef: apinetv1alpha1.NetworkInterfaceNATClaimRef{Name: "nat4", UID: "nat4-uid"}}
	nat6 := apinetv1alpha1.NetworkInterfaceNAT{IPFamily: corev1.IPv6Protocol, ClaimRef: apinetv1alpha1.NetworkInterfaceNATClaimRef{Name: "nat6", UID: "nat6-uid"}}
	public4 := apinetv1alpha1.NetworkInterfacePublicIP{Name: "192.0.2.1", IPFamily: corev1.IPv4Protocol, IP: apinetnet.MustParseIP("192.0.2.1")}
	public6 := apinetv1alpha1.NetworkInterfacePublicIP{Name: "2001:db8::1", IPFamily: corev1.IPv6Protocol, IP: apinetnet.MustParseIP("2001:db8::1")}
	prefixes := []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("10.1.0.0/24")}
	for _, tc := range []struct {
		name      string
		publicIPs []apinetv1alpha1.NetworkInterfacePublicIP
		prefixes  []apinetnet.IPPrefix
		wantNATs  []apinetv1alpha1.NetworkInterfaceNAT
	}{
		{"no public IPs: both NATs stay", nil, prefixes, []apinetv1alpha1.NetworkInterfaceNAT{nat4, nat6}},
		{"IPv4 public IP: the IPv4 NAT goes", []apinetv1alpha1.NetworkInterfacePublicIP{public4}, nil, []apinetv1alpha1.NetworkInterfaceNAT{nat6}},
		{"IPv6 public IP: the IPv6 NAT goes", []apinetv1alpha1.NetworkInterfacePublicIP{public6}, prefixes, []apinetv1alpha1.NetworkInterfaceNAT{nat4}},
		{"both families: no NATs", []apinetv1alpha1.NetworkInterfacePublicIP{public4, public6}, nil, nil},
	} {
		an := &apinetv1alpha1.NetworkInterface{Spec: apinetv1alpha1.NetworkInterfaceSpec{
			NATs:      []apinetv1alpha1.NetworkInterfaceNAT{nat4, nat6},
			PublicIPs: []apinetv1alpha1.NetworkInterfacePublicIP{{Name: "stale", IP: apinetnet.MustParseIP("198.51.100.1")}},
			Prefixes:  []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("10.9.0.0/24")},
		}}
		setAPINetNICSpec(an, tc.publicIPs, tc.prefixes)
		if !reflect.DeepEqual(an.Spec.NATs, tc.wantNATs) {
			t.Errorf("%s: NATs %+v, want %+v", tc.name, an.Spec.NATs, tc.wantNATs)
		}
		if !sameJSON(an.Spec.PublicIPs, tc.publicIPs) || !sameJSON(an.Spec.Prefixes, tc.prefixes) {
			t.Errorf("%s: publicIPs %s, prefixes %s; want %s, %s", tc.name,
				asJSON(an.Spec.PublicIPs), asJSON(an.Spec.Prefixes), asJSON(tc.publicIPs), asJSON(tc.prefixes))
		}
	}
}
