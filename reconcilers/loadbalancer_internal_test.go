package reconcilers

import (
	"maps"
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

func TestLoadBalancerTemplateAnnotations(t *testing.T) {
	lb := &networkingv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u-1"}}
	o := OriginLoadBalancer
	legacy := map[string]string{o.UIDLabel(): "u-1", o.NamespaceLabel(): "default", o.NameKey(): "web"}
	for _, tc := range []struct {
		name     string
		selector map[string]string
		want     map[string]string
	}{
		{"the hub's own (HEAD layout): the name as annotation", o.SelectorLabels(lb), map[string]string{o.NameKey(): "web"}},
		{"apinetlet v0.2.4's: none, the template stays as it was", legacy, nil},
	} {
		if got := loadBalancerTemplateAnnotations(lb, tc.selector); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAPINetDestinations pins how the IronCore routing maps to apinet
// destinations: a target whose provider ID parses becomes a target ref to
// the apinet NIC it names (UID, name, node); one that does not, or none, a
// destination without target; no destinations, nil.
func TestAPINetDestinations(t *testing.T) {
	providerID := NetworkInterfaceID{Namespace: "apinet-ns", Name: "an-nic", Node: "node-1", UID: "an-nic-uid"}.String()
	dst := func(providerID string) networkingv1alpha1.LoadBalancerDestination {
		return networkingv1alpha1.LoadBalancerDestination{
			IP:        commonv1alpha1.MustParseIP("10.0.0.5"),
			TargetRef: &networkingv1alpha1.LoadBalancerTargetRef{UID: "nic-uid", Name: "nic", ProviderID: providerID},
		}
	}
	for _, tc := range []struct {
		name string
		in   []networkingv1alpha1.LoadBalancerDestination
		want []apinetv1alpha1.LoadBalancerDestination
	}{
		{name: "no routing destinations"},
		{
			name: "valid provider ID",
			in:   []networkingv1alpha1.LoadBalancerDestination{dst(providerID)},
			want: []apinetv1alpha1.LoadBalancerDestination{{
				IP:        apinetnet.MustParseIP("10.0.0.5"),
				TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{UID: "an-nic-uid", Name: "an-nic", NodeRef: corev1.LocalObjectReference{Name: "node-1"}},
			}},
		},
		{
			name: "invalid provider ID",
			in:   []networkingv1alpha1.LoadBalancerDestination{dst("not-a-provider-id")},
			want: []apinetv1alpha1.LoadBalancerDestination{{IP: apinetnet.MustParseIP("10.0.0.5")}},
		},
		{
			name: "no target",
			in:   []networkingv1alpha1.LoadBalancerDestination{{IP: commonv1alpha1.MustParseIP("fd00::5")}},
			want: []apinetv1alpha1.LoadBalancerDestination{{IP: apinetnet.MustParseIP("fd00::5")}},
		},
	} {
		got := apinetDestinations(&networkingv1alpha1.LoadBalancerRouting{Destinations: tc.in})
		if !sameJSON(got, tc.want) {
			t.Errorf("%s: apinetDestinations = %s, want %s", tc.name, asJSON(got), asJSON(tc.want))
		}
	}
}

// TestLoadBalancerAffinity pins the instance affinity: zone anti-affinity
// on the selector always; node affinity only when node-affinity aware and
// there are target nodes, one term per distinct node, sorted.
func TestLoadBalancerAffinity(t *testing.T) {
	selector := map[string]string{"k": "v"}
	dst := func(node string) apinetv1alpha1.LoadBalancerDestination {
		return apinetv1alpha1.LoadBalancerDestination{TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{Name: "nic-" + node, NodeRef: corev1.LocalObjectReference{Name: node}}}
	}
	spread := []apinetv1alpha1.LoadBalancerDestination{dst("node-2"), dst("node-1"), {}, dst("node-2"), dst("")}
	for _, tc := range []struct {
		name      string
		dsts      []apinetv1alpha1.LoadBalancerDestination
		aware     bool
		wantNodes []string // nil: no node affinity
	}{
		{"not aware", spread, false, nil},
		{"aware, no destinations", nil, true, nil},
		{"aware, no target nodes", []apinetv1alpha1.LoadBalancerDestination{{}, dst("")}, true, nil},
		{"aware, target nodes", spread, true, []string{"node-1", "node-2"}},
	} {
		want := &apinetv1alpha1.Affinity{InstanceAntiAffinity: &apinetv1alpha1.InstanceAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []apinetv1alpha1.InstanceAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
				TopologyKey:   apinetv1alpha1.TopologyZoneLabel,
			}},
		}}
		if tc.wantNodes != nil {
			var terms []apinetv1alpha1.NodeSelectorTerm
			for _, node := range tc.wantNodes {
				terms = append(terms, apinetv1alpha1.NodeSelectorTerm{MatchFields: []apinetv1alpha1.NodeSelectorRequirement{
					{Key: "metadata.name", Operator: apinetv1alpha1.NodeSelectorOpIn, Values: []string{node}},
				}})
			}
			want.NodeAffinity = &apinetv1alpha1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &apinetv1alpha1.NodeSelector{NodeSelectorTerms: terms}}
		}
		if got := loadBalancerAffinity(selector, tc.dsts, tc.aware); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: loadBalancerAffinity = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestAPINetLoadBalancer pins the apinet LoadBalancer of an IronCore one: a
// new one selects its instances by the origin selector labels (uid and
// namespace), which the template carries with the name annotation; one
// apinetlet v0.2.4 wrote keeps its three-label selector (the selector is
// immutable) and gets no template annotations (they would roll its
// instances). Type, network, IPs and ports are mapped.
func TestAPINetLoadBalancer(t *testing.T) {
	o := OriginLoadBalancer
	lb := &networkingv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "lb-uid"},
		Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypePublic,
			Ports: []networkingv1alpha1.LoadBalancerPort{
				{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80},
				{Protocol: ptr.To(corev1.ProtocolUDP), Port: 8000, EndPort: ptr.To[int32](8100)},
			},
		},
	}
	ips := []apinetv1alpha1.LoadBalancerIP{{Name: "ipv4", IPFamily: corev1.IPv4Protocol}}
	dsts := []apinetv1alpha1.LoadBalancerDestination{{
		IP:        apinetnet.MustParseIP("10.0.0.5"),
		TargetRef: &apinetv1alpha1.LoadBalancerTargetRef{UID: "an-nic-uid", Name: "an-nic", NodeRef: corev1.LocalObjectReference{Name: "node-1"}},
	}}
	hub := map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default"}
	legacy := map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default", o.NameKey(): "web"}
	existing := func(selector map[string]string) *apinetv1alpha1.LoadBalancer {
		return &apinetv1alpha1.LoadBalancer{Spec: apinetv1alpha1.LoadBalancerSpec{Selector: &metav1.LabelSelector{MatchLabels: selector}}}
	}
	for _, tc := range []struct {
		name            string
		existing        *apinetv1alpha1.LoadBalancer
		aware           bool
		wantSelector    map[string]string
		wantAnnotations map[string]string
	}{
		{"new", nil, false, hub, map[string]string{o.NameKey(): "web"}},
		{"not found (empty object)", &apinetv1alpha1.LoadBalancer{}, true, hub, map[string]string{o.NameKey(): "web"}},
		{"the hub's own", existing(hub), false, hub, map[string]string{o.NameKey(): "web"}},
		{"apinetlet v0.2.4's: selector kept, no template annotations", existing(legacy), true, legacy, nil},
	} {
		want := &apinetv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "apinet-ns", Name: "lb-uid",
				Labels:      map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default", clusterprofiles.LabelCluster: "fleet.m1"},
				Annotations: map[string]string{o.NameKey(): "web"},
			},
			Spec: apinetv1alpha1.LoadBalancerSpec{
				Type:       apinetv1alpha1.LoadBalancerTypePublic,
				NetworkRef: corev1.LocalObjectReference{Name: "nw-uid"},
				IPs:        ips,
				Ports: []apinetv1alpha1.LoadBalancerPort{
					{Protocol: ptr.To(corev1.ProtocolTCP), Port: 80},
					{Protocol: ptr.To(corev1.ProtocolUDP), Port: 8000, EndPort: ptr.To[int32](8100)},
				},
				Selector: &metav1.LabelSelector{MatchLabels: tc.wantSelector},
				Template: apinetv1alpha1.InstanceTemplate{
					ObjectMeta: metav1.ObjectMeta{Labels: tc.wantSelector, Annotations: tc.wantAnnotations},
					Spec:       apinetv1alpha1.InstanceSpec{Affinity: loadBalancerAffinity(tc.wantSelector, dsts, tc.aware)},
				},
			},
		}
		if got := apinetLoadBalancer(testMember(), lb, tc.existing, "nw-uid", ips, dsts, tc.aware); !sameJSON(got, want) {
			t.Errorf("%s: apinetLoadBalancer = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
	}
}

// TestLoadBalancerStatusIPs pins that status.ips are the allocated (valid)
// addresses of the apinet LoadBalancer only.
func TestLoadBalancerStatusIPs(t *testing.T) {
	for _, tc := range []struct {
		name string
		ips  []apinetv1alpha1.LoadBalancerIP
		want []commonv1alpha1.IP
	}{
		{name: "none"},
		{name: "not allocated yet", ips: []apinetv1alpha1.LoadBalancerIP{{Name: "ipv4", IPFamily: corev1.IPv4Protocol}}},
		{
			name: "allocated ones only",
			ips: []apinetv1alpha1.LoadBalancerIP{
				{Name: "ipv4", IP: apinetnet.MustParseIP("192.0.2.1")},
				{Name: "pending", IPFamily: corev1.IPv6Protocol},
				{Name: "ipv6", IP: apinetnet.MustParseIP("2001:db8::1")},
			},
			want: commonv1alpha1.MustParseIPs("192.0.2.1", "2001:db8::1"),
		},
	} {
		an := &apinetv1alpha1.LoadBalancer{Spec: apinetv1alpha1.LoadBalancerSpec{IPs: tc.ips}}
		if got := loadBalancerStatusIPs(an); !sameJSON(got, tc.want) {
			t.Errorf("%s: loadBalancerStatusIPs = %s, want %s", tc.name, asJSON(got), asJSON(tc.want))
		}
	}
}

// TestAPINetLoadBalancerHandbackLayout pins the layout of a member set to
// hand back to apinetlet v0.2.4 (clusterprofiles.AnnotationHandbackLayout):
// a new apinet LoadBalancer gets v0.2.4's three-label selector, the name
// label on the object too, and no template annotations; an existing one
// keeps its selector whatever the layout; a name too long for a label keeps
// HEAD's layout (v0.2.4 cannot map it either).
func TestAPINetLoadBalancerHandbackLayout(t *testing.T) {
	o := OriginLoadBalancer
	long := strings.Repeat("n", 64)
	head := map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default"}
	legacy := map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default", o.NameKey(): "web"}
	withCluster := func(l map[string]string) map[string]string {
		l = maps.Clone(l)
		l[clusterprofiles.LabelCluster] = "fleet.m1"
		return l
	}
	existing := func(selector map[string]string) *apinetv1alpha1.LoadBalancer {
		return &apinetv1alpha1.LoadBalancer{Spec: apinetv1alpha1.LoadBalancerSpec{Selector: &metav1.LabelSelector{MatchLabels: selector}}}
	}
	for _, tc := range []struct {
		name            string
		layout          clusterprofiles.HandbackLayout
		lbName          string
		existing        *apinetv1alpha1.LoadBalancer
		wantSelector    map[string]string
		wantLabels      map[string]string
		wantTemplateAnn map[string]string
	}{
		{"default (unset): HEAD", "", "web", nil, head, withCluster(head), map[string]string{o.NameKey(): "web"}},
		{"head", clusterprofiles.HandbackHead, "web", nil, head, withCluster(head), map[string]string{o.NameKey(): "web"}},
		{"v0.2.4: three labels, no template annotations", clusterprofiles.HandbackV024, "web", nil, legacy, withCluster(legacy), nil},
		{"v0.2.4, existing with HEAD's selector: kept", clusterprofiles.HandbackV024, "web", existing(head), head, withCluster(legacy), map[string]string{o.NameKey(): "web"}},
		{"head, existing with v0.2.4's selector: kept", clusterprofiles.HandbackHead, "web", existing(legacy), legacy, withCluster(head), nil},
		{"v0.2.4, name too long for a label: HEAD's", clusterprofiles.HandbackV024, long, nil,
			map[string]string{o.UIDLabel(): "lb-uid", o.NamespaceLabel(): "default"},
			withCluster(head), map[string]string{o.NameKey(): long}},
	} {
		m := testMember()
		m.SetSettings(clusterprofiles.Settings{Handback: tc.layout})
		lb := &networkingv1alpha1.LoadBalancer{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: tc.lbName, UID: "lb-uid"},
			Spec:       networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypePublic},
		}
		got := apinetLoadBalancer(m, lb, tc.existing, "nw-uid", nil, nil, false)
		if !reflect.DeepEqual(got.Spec.Selector.MatchLabels, tc.wantSelector) || !reflect.DeepEqual(got.Spec.Template.Labels, tc.wantSelector) {
			t.Errorf("%s: selector %v, template labels %v, want %v", tc.name, got.Spec.Selector.MatchLabels, got.Spec.Template.Labels, tc.wantSelector)
		}
		if !reflect.DeepEqual(got.Labels, tc.wantLabels) {
			t.Errorf("%s: labels %v, want %v", tc.name, got.Labels, tc.wantLabels)
		}
		if !reflect.DeepEqual(got.Annotations, map[string]string{o.NameKey(): tc.lbName}) {
			t.Errorf("%s: annotations %v, want the name annotation in every layout", tc.name, got.Annotations)
		}
		if !reflect.DeepEqual(got.Spec.Template.Annotations, tc.wantTemplateAnn) {
			t.Errorf("%s: template annotations %v, want %v", tc.name, got.Spec.Template.Annotations, tc.wantTemplateAnn)
		}
		if sel := got.Spec.Template.Spec.Affinity.InstanceAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels; !reflect.DeepEqual(sel, tc.wantSelector) {
			t.Errorf("%s: anti-affinity selector %v, want %v", tc.name, sel, tc.wantSelector)
		}
	}
}

// TestLoadBalancerImmutableChanges pins which changes apinet cannot apply
// in place (type, network) and what is applied instead: the apinet value of
// each such field, with the addresses of the type in force (public ones by
// name and family only: the registry's addresses are never claimed), and
// everything else (ports) as asked.
func TestLoadBalancerImmutableChanges(t *testing.T) {
	public := apinetv1alpha1.LoadBalancerTypePublic
	internal := apinetv1alpha1.LoadBalancerTypeInternal
	lb := func(typ apinetv1alpha1.LoadBalancerType, network string, port int32, ips ...apinetv1alpha1.LoadBalancerIP) *apinetv1alpha1.LoadBalancer {
		return &apinetv1alpha1.LoadBalancer{Spec: apinetv1alpha1.LoadBalancerSpec{
			Type: typ, NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: ips,
			Ports: []apinetv1alpha1.LoadBalancerPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: port}},
		}}
	}
	publicAllocated := apinetv1alpha1.LoadBalancerIP{Name: "ipv4", IPFamily: corev1.IPv4Protocol, IP: apinetnet.MustParseIP("203.0.113.7")}
	publicAsked := apinetv1alpha1.LoadBalancerIP{Name: "ipv4", IPFamily: corev1.IPv4Protocol}
	internalIP := apinetv1alpha1.LoadBalancerIP{Name: "ip-0", IPFamily: corev1.IPv4Protocol, IP: apinetnet.MustParseIP("10.0.0.9")}
	for _, tc := range []struct {
		name     string
		desired  *apinetv1alpha1.LoadBalancer
		existing *apinetv1alpha1.LoadBalancer
		want     []immutableChange
		applied  *apinetv1alpha1.LoadBalancer
		text     string
	}{
		{name: "new: nothing to keep", desired: lb(public, "nw", 80, publicAsked), applied: lb(public, "nw", 80, publicAsked)},
		{name: "ports only", desired: lb(public, "nw", 443, publicAsked), existing: lb(public, "nw", 80, publicAllocated), applied: lb(public, "nw", 443, publicAsked)},
		{
			name:    "public to internal, with a port change: type and public addresses kept, port applied",
			desired: lb(internal, "nw", 443, internalIP), existing: lb(public, "nw", 80, publicAllocated),
			want:    []immutableChange{{Field: "spec.type", Have: "Public", Want: "Internal"}},
			applied: lb(public, "nw", 443, publicAsked),
			text:    "spec.type is Public in apinet, asked Internal",
		},
		{
			name:    "internal to public: the internal address kept",
			desired: lb(public, "nw", 80, publicAsked), existing: lb(internal, "nw", 80, internalIP),
			want:    []immutableChange{{Field: "spec.type", Have: "Internal", Want: "Public"}},
			applied: lb(internal, "nw", 80, internalIP),
			text:    "spec.type is Internal in apinet, asked Public",
		},
		{
			name:    "network recreated: the apinet network kept",
			desired: lb(public, "nw-new", 80, publicAsked), existing: lb(public, "nw-old", 80, publicAllocated),
			want:    []immutableChange{{Field: "spec.networkRef.name", Have: "nw-old", Want: "nw-new"}},
			applied: lb(public, "nw-old", 80, publicAsked),
			text:    "spec.networkRef.name is nw-old in apinet, asked nw-new",
		},
		{
			name:    "both",
			desired: lb(internal, "nw-new", 80), existing: lb(public, "nw-old", 80, publicAllocated),
			want: []immutableChange{
				{Field: "spec.type", Have: "Public", Want: "Internal"},
				{Field: "spec.networkRef.name", Have: "nw-old", Want: "nw-new"},
			},
			applied: lb(public, "nw-old", 80, publicAsked),
			text:    "spec.networkRef.name is nw-old in apinet, asked nw-new; spec.type is Public in apinet, asked Internal",
		},
	} {
		got := loadBalancerImmutableChanges(tc.desired, tc.existing)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: changes %v, want %v", tc.name, got, tc.want)
		}
		keepImmutable(tc.desired, tc.existing, got)
		if !sameJSON(tc.desired, tc.applied) {
			t.Errorf("%s: applied %s, want %s", tc.name, asJSON(tc.desired), asJSON(tc.applied))
		}
		if text := immutableRefusal(got); text != tc.text {
			t.Errorf("%s: refusal %q, want %q", tc.name, text, tc.text)
		}
	}
}
