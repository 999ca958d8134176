package reconcilers

import (
	"fmt"
	"testing"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	corev1alpha1 "github.com/ironcore-dev/ironcore/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// objectPeer is an IronCore policy peer selecting objects of kind by labels.
func objectPeer(kind string, labels map[string]string) networkingv1alpha1.NetworkPolicyPeer {
	return networkingv1alpha1.NetworkPolicyPeer{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: kind, LabelSelector: metav1.LabelSelector{MatchLabels: labels}}}
}

// bogusSelector does not parse (unknown operator).
var bogusSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus", Values: []string{"x"}}}}

// TestAPINetPolicySpec pins the apinet spec of an IronCore NetworkPolicy:
// apinetlet's priority 1000, the selector copied, peers (object selector,
// ipBlock with except) and ports mapped per rule, policy types mapped; an
// unknown policy type is an error.
func TestAPINetPolicySpec(t *testing.T) {
	tcp := ptr.To(corev1.ProtocolTCP)
	ingress := []networkingv1alpha1.NetworkPolicyIngressRule{{
		From: []networkingv1alpha1.NetworkPolicyPeer{
			objectPeer("NetworkInterface", map[string]string{"app": "db"}),
			{IPBlock: &networkingv1alpha1.IPBlock{CIDR: commonv1alpha1.MustParseIPPrefix("10.0.0.0/8"), Except: []commonv1alpha1.IPPrefix{commonv1alpha1.MustParseIPPrefix("10.1.0.0/16")}}},
		},
		Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: tcp, Port: 80, EndPort: ptr.To[int32](90)}},
	}}
	egress := []networkingv1alpha1.NetworkPolicyEgressRule{{
		To:    []networkingv1alpha1.NetworkPolicyPeer{objectPeer("LoadBalancer", map[string]string{"app": "lb"})},
		Ports: []networkingv1alpha1.NetworkPolicyPort{{Port: 443}},
	}}
	selector := metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	base := apinetv1alpha1.NetworkPolicySpec{NetworkRef: corev1.LocalObjectReference{Name: "nw-uid"}, NetworkInterfaceSelector: selector, Priority: ptr.To[int32](1000)}
	full := base
	full.Ingress = []apinetv1alpha1.NetworkPolicyIngressRule{{
		From: []apinetv1alpha1.NetworkPolicyPeer{
			{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "NetworkInterface", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
			{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("10.0.0.0/8"), Except: []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("10.1.0.0/16")}}},
		},
		Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: tcp, Port: 80, EndPort: ptr.To[int32](90)}},
	}}
	full.Egress = []apinetv1alpha1.NetworkPolicyEgressRule{{
		To: []apinetv1alpha1.NetworkPolicyPeer{{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: "LoadBalancer", LabelSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "lb"}}}}},
		// No protocol in IronCore: TCP, written explicitly (metalnetlet
		// dereferences it).
		Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: tcp, Port: 443}},
	}}
	full.PolicyTypes = []apinetv1alpha1.PolicyType{apinetv1alpha1.PolicyTypeIngress, apinetv1alpha1.PolicyTypeEgress}
	for _, tc := range []struct {
		name    string
		spec    networkingv1alpha1.NetworkPolicySpec
		want    apinetv1alpha1.NetworkPolicySpec
		wantErr bool
	}{
		{name: "selector only", spec: networkingv1alpha1.NetworkPolicySpec{NetworkInterfaceSelector: selector}, want: base},
		{name: "rules and types", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, Ingress: ingress, Egress: egress,
			PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress, networkingv1alpha1.PolicyTypeEgress},
		}, want: full},
		{name: "unknown policy type", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, PolicyTypes: []networkingv1alpha1.PolicyType{"Sideways"},
		}, wantErr: true},
		{name: "SCTP is refused", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{
				Ports: []networkingv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolSCTP), Port: 9}},
			}},
		}, wantErr: true},
		{name: "VirtualIP peers become their addresses", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{
				From: []networkingv1alpha1.NetworkPolicyPeer{objectPeer("VirtualIP", map[string]string{"app": "vip"})},
			}},
		}, want: withIngress(base, apinetv1alpha1.NetworkPolicyIngressRule{From: []apinetv1alpha1.NetworkPolicyPeer{
			{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("192.0.2.1/32")}},
			{IPBlock: &apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("2001:db8::7/128")}},
		}})},
		{name: "a rule of VirtualIPs without addresses allows nothing: left out", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, Egress: []networkingv1alpha1.NetworkPolicyEgressRule{
				{To: []networkingv1alpha1.NetworkPolicyPeer{objectPeer("VirtualIP", map[string]string{"app": "nothing"})}},
				{Ports: []networkingv1alpha1.NetworkPolicyPort{{Port: 53}}},
			},
		}, want: withEgress(base, apinetv1alpha1.NetworkPolicyEgressRule{Ports: []apinetv1alpha1.NetworkPolicyPort{{Protocol: tcp, Port: 53}}})},
		{name: "invalid VirtualIP peer selector", spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkInterfaceSelector: selector, Egress: []networkingv1alpha1.NetworkPolicyEgressRule{{
				To: []networkingv1alpha1.NetworkPolicyPeer{{ObjectSelector: &corev1alpha1.ObjectSelector{Kind: "VirtualIP", LabelSelector: bogusSelector}}},
			}},
		}, wantErr: true},
	} {
		np := &networkingv1alpha1.NetworkPolicy{Spec: tc.spec}
		np.Spec.NetworkRef.Name = "nw"
		got, err := apinetPolicySpec(np, "nw-uid", vipObjects)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !sameJSON(got, tc.want) {
			t.Errorf("%s: apinetPolicySpec = %s, want %s", tc.name, asJSON(got), asJSON(tc.want))
		}
	}
}

// vipObjects holds VirtualIPs: two with app=vip whose apinet IPs have
// addresses, one whose IP has none yet, one whose apinet IP stems from
// another VirtualIP, and one unselected.
var vipObjects = func() policyObjects {
	o := policyObjects{apinetIPs: map[string]*apinetv1alpha1.IP{}}
	vip := func(name string, labels map[string]string, originUID types.UID, addr string) {
		uid := types.UID("uid-" + name)
		o.virtualIPs = append(o.virtualIPs, networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, Labels: labels}})
		ip := &apinetv1alpha1.IP{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: string(uid), Labels: map[string]string{OriginVirtualIP.UIDLabel(): string(originUID)}}}
		if addr != "" {
			ip.Spec.IP = apinetnet.MustParseIP(addr)
		}
		o.apinetIPs[string(uid)] = ip
	}
	app := map[string]string{"app": "vip"}
	vip("v6", app, "uid-v6", "2001:db8::7")
	vip("v4", app, "uid-v4", "192.0.2.1")
	vip("pending", app, "uid-pending", "")
	vip("stale", app, "uid-someone-else", "192.0.2.99")
	vip("other", map[string]string{"app": "other"}, "uid-other", "192.0.2.50")
	return o
}()

func withIngress(spec apinetv1alpha1.NetworkPolicySpec, rules ...apinetv1alpha1.NetworkPolicyIngressRule) apinetv1alpha1.NetworkPolicySpec {
	spec.Ingress = rules
	return spec
}

func withEgress(spec apinetv1alpha1.NetworkPolicySpec, rules ...apinetv1alpha1.NetworkPolicyEgressRule) apinetv1alpha1.NetworkPolicySpec {
	spec.Egress = rules
	return spec
}

// TestPeersOfKind pins the check for peers of a kind, in ingress and
// egress rules alike.
func TestPeersOfKind(t *testing.T) {
	ipBlock := networkingv1alpha1.NetworkPolicyPeer{IPBlock: &networkingv1alpha1.IPBlock{CIDR: commonv1alpha1.MustParseIPPrefix("10.0.0.0/8")}}
	for _, tc := range []struct {
		name    string
		ingress []networkingv1alpha1.NetworkPolicyPeer
		egress  []networkingv1alpha1.NetworkPolicyPeer
		kind    string
		want    bool
	}{
		{name: "no rules", kind: "LoadBalancer"},
		{name: "ipBlocks only", ingress: []networkingv1alpha1.NetworkPolicyPeer{ipBlock}, egress: []networkingv1alpha1.NetworkPolicyPeer{ipBlock}, kind: "LoadBalancer"},
		{name: "ingress peer", ingress: []networkingv1alpha1.NetworkPolicyPeer{ipBlock, objectPeer("LoadBalancer", nil)}, kind: "LoadBalancer", want: true},
		{name: "egress peer", egress: []networkingv1alpha1.NetworkPolicyPeer{objectPeer("LoadBalancer", nil)}, kind: "LoadBalancer", want: true},
		{name: "another kind", ingress: []networkingv1alpha1.NetworkPolicyPeer{objectPeer("NetworkInterface", nil)}, kind: "LoadBalancer"},
	} {
		np := &networkingv1alpha1.NetworkPolicy{Spec: networkingv1alpha1.NetworkPolicySpec{
			Ingress: []networkingv1alpha1.NetworkPolicyIngressRule{{From: tc.ingress}},
			Egress:  []networkingv1alpha1.NetworkPolicyEgressRule{{To: tc.egress}},
		}}
		if got := peersOfKind(np, tc.kind); got != tc.want {
			t.Errorf("%s: peersOfKind(%q) = %v, want %v", tc.name, tc.kind, got, tc.want)
		}
	}
}

// TestClaimedAPINetNIC pins which apinet NIC an IronCore NIC claimed: the
// one of its origin UID, unless its provider ID names another apinet NIC
// (name or UID) or does not parse; an empty provider ID does not reject it.
func TestClaimedAPINetNIC(t *testing.T) {
	an := &apinetv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: "an-nic", UID: "an-uid"}}
	byOrigin := map[types.UID]*apinetv1alpha1.NetworkInterface{"nic-uid": an}
	id := func(name string, uid types.UID) string {
		return NetworkInterfaceID{Namespace: "apinet-ns", Name: name, Node: "node-1", UID: uid}.String()
	}
	for _, tc := range []struct {
		name       string
		uid        types.UID
		providerID string
		want       *apinetv1alpha1.NetworkInterface
	}{
		{"no apinet NIC of that origin", "other-uid", id("an-nic", "an-uid"), nil},
		{"provider ID names it", "nic-uid", id("an-nic", "an-uid"), an},
		{"no provider ID", "nic-uid", "", an},
		{"provider ID names another name", "nic-uid", id("an-other", "an-uid"), nil},
		{"provider ID names another UID", "nic-uid", id("an-nic", "an-other-uid"), nil},
		{"provider ID does not parse: the NIC reconciler releases it", "nic-uid", "ironcore-net://not-a-nic", nil},
	} {
		nic := &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{UID: tc.uid}, Spec: networkingv1alpha1.NetworkInterfaceSpec{ProviderID: tc.providerID}}
		if got := claimedAPINetNIC(nic, byOrigin); got != tc.want {
			t.Errorf("%s: claimedAPINetNIC = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPolicyRule pins the NetworkPolicyRule of a policy. Targets are the
// IronCore NICs of the policy's network whose IronCore labels match the
// selector (the apinet NICs carry only the machine provider's label), each
// through its claimed apinet NIC, which must be on the apinet network and
// Ready: one target per IP, by apinet NIC name. NetworkInterface peers are
// the /32 or /128 of the matching NICs of that network on the same terms;
// LoadBalancer peers the allocated IPs of the matching LoadBalancers of the
// policy's network whose apinet LoadBalancer stems from them; ipBlocks are
// copied; a rule without ports gets every TCP and UDP port, one without
// peers every address. Selectors that do not parse and unsupported peer
// kinds are errors.
func TestPolicyRule(t *testing.T) {
	const nw, anNW = "nw", "nw-uid"
	anNetwork := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: anNW, UID: "an-nw-uid"}}
	objects := policyObjects{apinetNICs: map[types.UID]*apinetv1alpha1.NetworkInterface{}, apinetLoadBalancers: map[string]*apinetv1alpha1.LoadBalancer{}}
	// nic adds an IronCore NIC on network with labels and, unless state is
	// "", its claimed apinet NIC "an-<name>" on anNetwork with ips.
	nic := func(name, network, anNetwork string, labels map[string]string, state apinetv1alpha1.NetworkInterfaceState, ips ...string) {
		anName, anUID := "an-"+name, types.UID("an-uid-"+name)
		objects.nics = append(objects.nics, networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Labels: labels},
			Spec: networkingv1alpha1.NetworkInterfaceSpec{
				NetworkRef: corev1.LocalObjectReference{Name: network},
				ProviderID: NetworkInterfaceID{Namespace: "apinet-ns", Name: anName, Node: "node-1", UID: anUID}.String(),
			},
		})
		if state == "" {
			return
		}
		an := &apinetv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: anName, UID: anUID,
				Labels: map[string]string{"libvirt-provider.ironcore.dev/machine-id": "machine-" + name}},
			Spec:   apinetv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: anNetwork}},
			Status: apinetv1alpha1.NetworkInterfaceStatus{State: state},
		}
		for _, ip := range ips {
			an.Spec.IPs = append(an.Spec.IPs, apinetnet.MustParseIP(ip))
		}
		objects.apinetNICs[types.UID("uid-"+name)] = an
	}
	ready, pending := apinetv1alpha1.NetworkInterfaceStateReady, apinetv1alpha1.NetworkInterfaceStatePending
	web, db := map[string]string{"app": "web"}, map[string]string{"app": "db"}
	nic("web-b", nw, anNW, web, ready, "10.0.0.2", "fd00::2")
	nic("web-a", nw, anNW, web, ready, "10.0.0.1")
	nic("web-pending", nw, anNW, web, pending, "10.0.0.3")
	nic("web-other-network", "other", "other-uid", web, ready, "10.9.0.1")
	nic("web-apinet-elsewhere", nw, "other-uid", web, ready, "10.9.0.2")
	nic("web-unclaimed", nw, "", web, "")
	nic("web-moved-on", nw, anNW, web, ready, "10.0.0.4")
	// its provider ID now names another apinet NIC: the old one is not its
	objects.nics[len(objects.nics)-1].Spec.ProviderID = NetworkInterfaceID{Namespace: "apinet-ns", Name: "an-new", Node: "node-1", UID: "an-uid-new"}.String()
	nic("db-v6", nw, anNW, db, ready, "fd00::9")
	nic("db", nw, anNW, db, ready, "10.0.0.9")
	nic("db-other-network", "other", "other-uid", db, ready, "10.9.0.9")
	nic("db-pending", nw, anNW, db, pending, "10.0.0.10")
	// lb adds an IronCore LoadBalancer with labels and its apinet
	// LoadBalancer (named by its UID) labelled as stemming from originUID.
	lb := func(name, network string, labels map[string]string, originUID types.UID, ips ...string) {
		uid := types.UID("uid-" + name)
		objects.loadBalancers = append(objects.loadBalancers, networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, Labels: labels},
			Spec:       networkingv1alpha1.LoadBalancerSpec{NetworkRef: corev1.LocalObjectReference{Name: network}},
		})
		anNetworkName := "other-uid"
		if network == nw {
			anNetworkName = anNW
		}
		an := &apinetv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: string(uid),
			Labels: map[string]string{OriginLoadBalancer.UIDLabel(): string(originUID)}},
			Spec: apinetv1alpha1.LoadBalancerSpec{NetworkRef: corev1.LocalObjectReference{Name: anNetworkName}}}
		for i, ip := range ips {
			lbIP := apinetv1alpha1.LoadBalancerIP{Name: fmt.Sprint("ip-", i)}
			if ip != "" {
				lbIP.IP = apinetnet.MustParseIP(ip)
			}
			an.Spec.IPs = append(an.Spec.IPs, lbIP)
		}
		objects.apinetLoadBalancers[string(uid)] = an
	}
	lbs := map[string]string{"app": "lb"}
	lb("lb-b", "other", lbs, "uid-lb-b", "192.0.2.2", "")
	lb("lb-a", nw, lbs, "uid-lb-a", "2001:db8::1")
	lb("lb-stale", nw, lbs, "uid-someone-else", "192.0.2.9")
	lb("lb-unselected", nw, map[string]string{"app": "other"}, "uid-lb-unselected", "192.0.2.8")

	np := &networkingv1alpha1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pol", UID: "np-uid"},
		Spec:       networkingv1alpha1.NetworkPolicySpec{NetworkRef: corev1.LocalObjectReference{Name: nw}},
	}
	meta := OriginNetworkPolicy.ObjectMeta(testMember(), np, "np-uid")
	ipBlock := apinetv1alpha1.IPBlock{CIDR: apinetnet.MustParseIPPrefix("192.168.0.0/16"), Except: []apinetnet.IPPrefix{apinetnet.MustParseIPPrefix("192.168.1.0/24")}}
	ports := []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: 5432}}
	peer := func(kind string, sel metav1.LabelSelector) apinetv1alpha1.NetworkPolicyPeer {
		return apinetv1alpha1.NetworkPolicyPeer{ObjectSelector: &apinetv1alpha1.ObjectSelector{Kind: kind, LabelSelector: sel}}
	}
	matching := func(labels map[string]string) metav1.LabelSelector { return metav1.LabelSelector{MatchLabels: labels} }
	hostIP := func(family corev1.IPFamily, prefix string) apinetv1alpha1.ObjectIP {
		return apinetv1alpha1.ObjectIP{IPFamily: family, Prefix: apinetnet.MustParseIPPrefix(prefix)}
	}
	target := func(ip, name string) apinetv1alpha1.TargetNetworkInterface {
		return apinetv1alpha1.TargetNetworkInterface{IP: apinetnet.MustParseIP(ip), TargetRef: &apinetv1alpha1.LocalUIDReference{Name: "an-" + name, UID: types.UID("an-uid-" + name)}}
	}
	for _, tc := range []struct {
		name     string
		selector metav1.LabelSelector
		ingress  []apinetv1alpha1.NetworkPolicyIngressRule
		egress   []apinetv1alpha1.NetworkPolicyEgressRule
		// want are the rule's targets and rules; nil ingress/egress wants
		// mean none.
		wantTargets []apinetv1alpha1.TargetNetworkInterface
		wantIngress []apinetv1alpha1.Rule
		wantEgress  []apinetv1alpha1.Rule
		wantErr     bool
	}{
		{
			name:     "targets only",
			selector: matching(web),
			wantTargets: []apinetv1alpha1.TargetNetworkInterface{
				target("10.0.0.1", "web-a"), target("10.0.0.2", "web-b"), target("fd00::2", "web-b"),
			},
		},
		{
			name:     "no target matches",
			selector: matching(map[string]string{"app": "nothing"}),
		},
		{
			name:     "NetworkInterface peers and an ipBlock",
			selector: matching(db),
			ingress: []apinetv1alpha1.NetworkPolicyIngressRule{{
				From:  []apinetv1alpha1.NetworkPolicyPeer{peer("NetworkInterface", matching(db)), {IPBlock: &ipBlock}},
				Ports: ports,
			}},
			wantTargets: []apinetv1alpha1.TargetNetworkInterface{target("10.0.0.9", "db"), target("fd00::9", "db-v6")},
			wantIngress: []apinetv1alpha1.Rule{{
				CIDRBlock:          []apinetv1alpha1.IPBlock{ipBlock},
				ObjectIPs:          []apinetv1alpha1.ObjectIP{hostIP(corev1.IPv4Protocol, "10.0.0.9/32"), hostIP(corev1.IPv6Protocol, "fd00::9/128")},
				NetworkPolicyPorts: ports,
			}},
		},
		{
			name:     "LoadBalancer peers of the policy's network only; no ports: every TCP and UDP port",
			selector: matching(map[string]string{"app": "nothing"}),
			egress: []apinetv1alpha1.NetworkPolicyEgressRule{{
				To: []apinetv1alpha1.NetworkPolicyPeer{peer("LoadBalancer", matching(lbs))},
			}},
			wantEgress: []apinetv1alpha1.Rule{{
				ObjectIPs:          []apinetv1alpha1.ObjectIP{hostIP(corev1.IPv6Protocol, "2001:db8::1/128")},
				NetworkPolicyPorts: []apinetv1alpha1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP)}, {Protocol: ptr.To(corev1.ProtocolUDP)}},
			}},
		},
		{
			name:     "no peers: every address of both families",
			selector: matching(map[string]string{"app": "nothing"}),
			ingress:  []apinetv1alpha1.NetworkPolicyIngressRule{{Ports: ports}},
			wantIngress: []apinetv1alpha1.Rule{{
				CIDRBlock: []apinetv1alpha1.IPBlock{
					{CIDR: apinetnet.MustParseIPPrefix("0.0.0.0/0")}, {CIDR: apinetnet.MustParseIPPrefix("::/0")},
				},
				NetworkPolicyPorts: ports,
			}},
		},
		{
			name:     "a peer without matches: an empty rule",
			selector: matching(web),
			egress:   []apinetv1alpha1.NetworkPolicyEgressRule{{To: []apinetv1alpha1.NetworkPolicyPeer{peer("NetworkInterface", matching(map[string]string{"app": "nothing"}))}, Ports: ports}},
			wantTargets: []apinetv1alpha1.TargetNetworkInterface{
				target("10.0.0.1", "web-a"), target("10.0.0.2", "web-b"), target("fd00::2", "web-b"),
			},
			wantEgress: []apinetv1alpha1.Rule{{NetworkPolicyPorts: ports}},
		},
		{name: "invalid target selector", selector: bogusSelector, wantErr: true},
		{
			name:     "invalid NetworkInterface peer selector",
			selector: matching(web),
			ingress:  []apinetv1alpha1.NetworkPolicyIngressRule{{From: []apinetv1alpha1.NetworkPolicyPeer{peer("NetworkInterface", bogusSelector)}}},
			wantErr:  true,
		},
		{
			name:     "invalid LoadBalancer peer selector",
			selector: matching(web),
			egress:   []apinetv1alpha1.NetworkPolicyEgressRule{{To: []apinetv1alpha1.NetworkPolicyPeer{peer("LoadBalancer", bogusSelector)}}},
			wantErr:  true,
		},
		{
			name:     "unsupported peer kind",
			selector: matching(web),
			ingress:  []apinetv1alpha1.NetworkPolicyIngressRule{{From: []apinetv1alpha1.NetworkPolicyPeer{peer("Service", matching(web))}}},
			wantErr:  true,
		},
	} {
		an := &apinetv1alpha1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apinet-ns", Name: "np-uid", UID: "an-np-uid"},
			Spec: apinetv1alpha1.NetworkPolicySpec{
				NetworkRef: corev1.LocalObjectReference{Name: anNW}, NetworkInterfaceSelector: tc.selector,
				Priority: ptr.To[int32](1000), Ingress: tc.ingress, Egress: tc.egress,
			},
		}
		got, err := policyRule(meta, np, an, anNetwork, objects)
		if tc.wantErr {
			if err == nil || got != nil {
				t.Errorf("%s: policyRule = %s, %v; want an error", tc.name, asJSON(got), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := &apinetv1alpha1.NetworkPolicyRule{
			ObjectMeta:   *meta.DeepCopy(),
			NetworkRef:   apinetv1alpha1.LocalUIDReference{Name: anNW, UID: "an-nw-uid"},
			Targets:      tc.wantTargets,
			Priority:     ptr.To[int32](1000),
			IngressRules: tc.wantIngress,
			EgressRules:  tc.wantEgress,
		}
		if !sameJSON(got, want) {
			t.Errorf("%s: policyRule =\n%s\nwant\n%s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestPolicyCondition pins the Applied condition: added when missing,
// updated in place (reason, message, observedGeneration), its
// lastTransitionTime moving only when the status changes; other
// conditions are left alone.
func TestPolicyCondition(t *testing.T) {
	old := metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	other := networkingv1alpha1.NetworkPolicyCondition{Type: "Other", Status: corev1.ConditionTrue, LastTransitionTime: old}
	applied := func(status corev1.ConditionStatus) networkingv1alpha1.NetworkPolicyCondition {
		return networkingv1alpha1.NetworkPolicyCondition{Type: ConditionApplied, Status: status, Reason: "Before", Message: "before", ObservedGeneration: 1, LastTransitionTime: old}
	}
	for _, tc := range []struct {
		name           string
		before         []networkingv1alpha1.NetworkPolicyCondition
		status         corev1.ConditionStatus
		wantTransition bool
	}{
		{"added", nil, corev1.ConditionTrue, true},
		{"added next to another", []networkingv1alpha1.NetworkPolicyCondition{other}, corev1.ConditionFalse, true},
		{"same status", []networkingv1alpha1.NetworkPolicyCondition{other, applied(corev1.ConditionTrue)}, corev1.ConditionTrue, false},
		{"status changes", []networkingv1alpha1.NetworkPolicyCondition{applied(corev1.ConditionFalse)}, corev1.ConditionTrue, true},
	} {
		np := &networkingv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Generation: 7}}
		np.Status.Conditions = append(np.Status.Conditions, tc.before...)
		setPolicyCondition(np, tc.status, "Now", "now")
		var got *networkingv1alpha1.NetworkPolicyCondition
		for i, c := range np.Status.Conditions {
			switch {
			case c.Type == ConditionApplied && got == nil:
				got = &np.Status.Conditions[i]
			case c.Type == ConditionApplied:
				t.Errorf("%s: a second Applied condition", tc.name)
			case c != other:
				t.Errorf("%s: condition %+v changed, want %+v", tc.name, c, other)
			}
		}
		if got == nil {
			t.Errorf("%s: no Applied condition", tc.name)
			continue
		}
		if got.Status != tc.status || got.Reason != "Now" || got.Message != "now" || got.ObservedGeneration != 7 {
			t.Errorf("%s: condition %+v, want status %s, reason Now, message now, observedGeneration 7", tc.name, *got, tc.status)
		}
		if moved := !got.LastTransitionTime.Equal(&old); moved != tc.wantTransition {
			t.Errorf("%s: lastTransitionTime moved = %v, want %v", tc.name, moved, tc.wantTransition)
		}
	}
}

// TestPolicyApplied pins that a policy counts as mapped exactly when its
// Applied condition is True.
func TestPolicyApplied(t *testing.T) {
	cond := func(typ networkingv1alpha1.NetworkPolicyConditionType, status corev1.ConditionStatus) []networkingv1alpha1.NetworkPolicyCondition {
		return []networkingv1alpha1.NetworkPolicyCondition{{Type: typ, Status: status}}
	}
	for _, tc := range []struct {
		name       string
		conditions []networkingv1alpha1.NetworkPolicyCondition
		want       bool
	}{
		{"no conditions", nil, false},
		{"Applied True", cond(ConditionApplied, corev1.ConditionTrue), true},
		{"Applied False", cond(ConditionApplied, corev1.ConditionFalse), false},
		{"Applied Unknown", cond(ConditionApplied, corev1.ConditionUnknown), false},
		{"another condition True", cond("Other", corev1.ConditionTrue), false},
	} {
		np := &networkingv1alpha1.NetworkPolicy{Status: networkingv1alpha1.NetworkPolicyStatus{Conditions: tc.conditions}}
		if got := policyApplied(np); got != tc.want {
			t.Errorf("%s: policyApplied = %v, want %v", tc.name, got, tc.want)
		}
	}
}
