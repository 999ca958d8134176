package reconcilers

import (
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestAPINetIP pins the apinet IP of a VirtualIP: public, of its family,
// named by its UID in the member's namespace with the origin metadata, and
// no address (the registry allocates it), even if the VirtualIP has one.
func TestAPINetIP(t *testing.T) {
	o := OriginVirtualIP
	for _, tc := range []struct {
		name   string
		family corev1.IPFamily
	}{
		{"IPv4", corev1.IPv4Protocol},
		{"IPv6", corev1.IPv6Protocol},
	} {
		vip := &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "vip", UID: "vip-uid"},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: tc.family},
			Status:     networkingv1alpha1.VirtualIPStatus{IP: commonv1alpha1.MustParseNewIP("192.0.2.1")},
		}
		want := &apinetv1alpha1.IP{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "apinet-ns", Name: "vip-uid",
				Labels:      map[string]string{o.UIDLabel(): "vip-uid", o.NamespaceLabel(): "default", clusterprofiles.LabelCluster: "fleet.m1"},
				Annotations: map[string]string{o.NameKey(): "vip"},
			},
			Spec: apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: tc.family},
		}
		if got := apinetIP(testMember(), vip); !sameJSON(got, want) {
			t.Errorf("%s: apinetIP = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestSetVirtualIPStatus pins that status.ip is the apinet IP's address,
// and stays as it is while the apinet IP has none.
func TestSetVirtualIPStatus(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before, ip string // "" for none
		want       string
	}{
		{"no address yet, none reported", "", "", ""},
		{"no address yet, the old one stays", "192.0.2.1", "", "192.0.2.1"},
		{"allocated", "", "192.0.2.2", "192.0.2.2"},
		{"allocated anew", "192.0.2.1", "2001:db8::2", "2001:db8::2"},
	} {
		vip := &networkingv1alpha1.VirtualIP{}
		if tc.before != "" {
			vip.Status.IP = commonv1alpha1.MustParseNewIP(tc.before)
		}
		ip := &apinetv1alpha1.IP{}
		if tc.ip != "" {
			ip.Spec.IP = apinetnet.MustParseIP(tc.ip)
		}
		setVirtualIPStatus(vip, ip)
		var want *commonv1alpha1.IP
		if tc.want != "" {
			want = commonv1alpha1.MustParseNewIP(tc.want)
		}
		if !sameJSON(vip.Status.IP, want) {
			t.Errorf("%s: status.ip %s, want %s", tc.name, asJSON(vip.Status.IP), asJSON(want))
		}
	}
}
