package reconcilers

import (
	"encoding/json"
	"testing"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	apinetnet "github.com/ironcore-dev/ironcore-net/apimachinery/api/net"
	commonv1alpha1 "github.com/ironcore-dev/ironcore/api/common/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// testMember is the member of the internal mapping tests: cluster label
// fleet.m1, apinet namespace apinet-ns.
func testMember() *clusterprofiles.Member {
	return &clusterprofiles.Member{Label: "fleet.m1", Peer: &clusterprofiles.Peer{Namespace: "apinet-ns"}}
}

// asJSON renders v for failure messages (netip-based types print unreadably
// with %v).
func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestPeeringStatus pins how apinet peering status (per partition, by VNI)
// maps back to IronCore: by the peering's VNI to its name, prefixes only
// once Ready, unknown VNIs skipped, ordered by name then state.
func TestPeeringStatus(t *testing.T) {
	an := &apinetv1alpha1.Network{Spec: apinetv1alpha1.NetworkSpec{Peerings: []apinetv1alpha1.NetworkPeering{
		{Name: "b", ID: "200", Prefixes: []apinetv1alpha1.PeeringPrefix{
			{Name: "pf", Prefix: apinetnet.MustParseNewIPPrefix("10.1.0.0/24")},
			{Name: "unallocated"}, // no prefix: not reported
		}},
		{Name: "a", ID: "100"},
	}}}
	st := func(id int32, state apinetv1alpha1.NetworkPeeringState) apinetv1alpha1.NetworkPeeringStatus {
		return apinetv1alpha1.NetworkPeeringStatus{ID: id, State: state}
	}
	bPrefixes := []networkingv1alpha1.PeeringPrefixStatus{{Name: "pf", Prefix: commonv1alpha1.MustParseNewIPPrefix("10.1.0.0/24")}}
	for _, tc := range []struct {
		name   string
		status map[string][]apinetv1alpha1.NetworkPeeringStatus
		want   []networkingv1alpha1.NetworkPeeringStatus
	}{
		{name: "no status yet"},
		{
			name:   "Ready: with prefixes",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{"p1": {st(200, apinetv1alpha1.NetworkPeeringStateReady)}},
			want:   []networkingv1alpha1.NetworkPeeringStatus{{Name: "b", State: networkingv1alpha1.NetworkPeeringStateReady, Prefixes: bPrefixes}},
		},
		{
			name:   "Pending: no prefixes",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{"p1": {st(200, apinetv1alpha1.NetworkPeeringStatePending)}},
			want:   []networkingv1alpha1.NetworkPeeringStatus{{Name: "b", State: networkingv1alpha1.NetworkPeeringStatePending}},
		},
		{
			name:   "unknown VNI skipped",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{"p1": {st(999, apinetv1alpha1.NetworkPeeringStateReady), st(100, apinetv1alpha1.NetworkPeeringStateReady)}},
			want:   []networkingv1alpha1.NetworkPeeringStatus{{Name: "a", State: networkingv1alpha1.NetworkPeeringStateReady}},
		},
		{
			name: "two partitions: once per name, the worst state",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{
				"p2": {st(200, apinetv1alpha1.NetworkPeeringStateReady), st(100, apinetv1alpha1.NetworkPeeringStateReady)},
				"p1": {st(100, apinetv1alpha1.NetworkPeeringStatePending), st(200, apinetv1alpha1.NetworkPeeringStateError)},
			},
			want: []networkingv1alpha1.NetworkPeeringStatus{
				{Name: "a", State: networkingv1alpha1.NetworkPeeringStatePending},
				{Name: "b", State: networkingv1alpha1.NetworkPeeringStateError},
			},
		},
		{
			name: "Ready in every partition: with prefixes, once",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{
				"p1": {st(200, apinetv1alpha1.NetworkPeeringStateReady)},
				"p2": {st(200, apinetv1alpha1.NetworkPeeringStateReady)},
			},
			want: []networkingv1alpha1.NetworkPeeringStatus{{Name: "b", State: networkingv1alpha1.NetworkPeeringStateReady, Prefixes: bPrefixes}},
		},
		{
			name: "Error beats Pending, whichever partition says it",
			status: map[string][]apinetv1alpha1.NetworkPeeringStatus{
				"p1": {st(100, apinetv1alpha1.NetworkPeeringStateError)},
				"p2": {st(100, apinetv1alpha1.NetworkPeeringStatePending)},
				"p3": {st(100, apinetv1alpha1.NetworkPeeringStateReady)},
			},
			want: []networkingv1alpha1.NetworkPeeringStatus{{Name: "a", State: networkingv1alpha1.NetworkPeeringStateError}},
		},
	} {
		an := an.DeepCopy()
		an.Status.Peerings = tc.status
		if got := peeringStatus(an); !sameJSON(got, tc.want) {
			t.Errorf("%s: peeringStatus = %s, want %s", tc.name, asJSON(got), asJSON(tc.want))
		}
	}
}

// TestSetNetworkStatus pins the status of a mapped Network: Available, and
// status.peerings from the apinet Network unless peering reporting is
// disabled; then an outside writer's peerings stay once Available and are
// cleared only when the state changes to Available.
func TestSetNetworkStatus(t *testing.T) {
	an := &apinetv1alpha1.Network{
		Spec:   apinetv1alpha1.NetworkSpec{Peerings: []apinetv1alpha1.NetworkPeering{{Name: "a", ID: "100"}}},
		Status: apinetv1alpha1.NetworkStatus{Peerings: map[string][]apinetv1alpha1.NetworkPeeringStatus{"p1": {{ID: 100, State: apinetv1alpha1.NetworkPeeringStateReady}}}},
	}
	outside := []networkingv1alpha1.NetworkPeeringStatus{{Name: "x", State: networkingv1alpha1.NetworkPeeringStateError}}
	fromAPINet := []networkingv1alpha1.NetworkPeeringStatus{{Name: "a", State: networkingv1alpha1.NetworkPeeringStateReady}}
	for _, tc := range []struct {
		name     string
		state    networkingv1alpha1.NetworkState
		disabled bool
		want     []networkingv1alpha1.NetworkPeeringStatus
	}{
		{"disabled, already Available: the outside writer's peerings stay", networkingv1alpha1.NetworkStateAvailable, true, outside},
		{"disabled, Pending: cleared", networkingv1alpha1.NetworkStatePending, true, nil},
		{"disabled, no state yet: cleared", "", true, nil},
		{"enabled, Available: from the apinet Network", networkingv1alpha1.NetworkStateAvailable, false, fromAPINet},
		{"enabled, Pending: from the apinet Network", networkingv1alpha1.NetworkStatePending, false, fromAPINet},
	} {
		nw := &networkingv1alpha1.Network{Status: networkingv1alpha1.NetworkStatus{State: tc.state, Peerings: outside}}
		setNetworkStatus(nw, an, tc.disabled)
		if nw.Status.State != networkingv1alpha1.NetworkStateAvailable {
			t.Errorf("%s: state %q, want Available", tc.name, nw.Status.State)
		}
		if !sameJSON(nw.Status.Peerings, tc.want) {
			t.Errorf("%s: peerings %s, want %s", tc.name, asJSON(nw.Status.Peerings), asJSON(tc.want))
		}
	}
}

// TestSetNetworkPending pins that a failed write leaves a mapped
// (Available) Network Available and makes any other Pending.
func TestSetNetworkPending(t *testing.T) {
	for _, tc := range []struct {
		name        string
		state, want networkingv1alpha1.NetworkState
	}{
		{"no state yet", "", networkingv1alpha1.NetworkStatePending},
		{"Pending", networkingv1alpha1.NetworkStatePending, networkingv1alpha1.NetworkStatePending},
		{"Error", networkingv1alpha1.NetworkStateError, networkingv1alpha1.NetworkStatePending},
		{"Available stays", networkingv1alpha1.NetworkStateAvailable, networkingv1alpha1.NetworkStateAvailable},
	} {
		nw := &networkingv1alpha1.Network{Status: networkingv1alpha1.NetworkStatus{State: tc.state}}
		setNetworkPending(nw)
		if nw.Status.State != tc.want {
			t.Errorf("%s: state %q, want %q", tc.name, nw.Status.State, tc.want)
		}
	}
}

// TestAPINetNetwork pins the apinet Network of an IronCore Network: named
// by its UID in the member's apinet namespace, apinetlet's origin labels
// and name annotation plus the cluster label, the peerings given, and never
// spec.id (the registry's), even when the provider ID names a VNI.
func TestAPINetNetwork(t *testing.T) {
	nw := &networkingv1alpha1.Network{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "nw-uid"},
		Spec:       networkingv1alpha1.NetworkSpec{ProviderID: NetworkID{Namespace: "apinet-ns", Name: "nw-uid", ID: "123", UID: "an-uid"}.String()},
	}
	meta := metav1.ObjectMeta{
		Namespace: "apinet-ns", Name: "nw-uid",
		Labels: map[string]string{
			"apinetlet.ironcore.dev/network-uid":       "nw-uid",
			"apinetlet.ironcore.dev/network-namespace": "default",
			clusterprofiles.LabelCluster:               "fleet.m1",
		},
		Annotations: map[string]string{"apinetlet.ironcore.dev/network-name": "web"},
	}
	peerings := []apinetv1alpha1.NetworkPeering{{Name: "a", ID: "100", Prefixes: []apinetv1alpha1.PeeringPrefix{{Name: "pf", Prefix: apinetnet.MustParseNewIPPrefix("10.1.0.0/24")}}}}
	for _, tc := range []struct {
		name     string
		peerings []apinetv1alpha1.NetworkPeering
	}{
		{"no peerings", nil},
		{"with peerings", peerings},
	} {
		want := &apinetv1alpha1.Network{ObjectMeta: meta, Spec: apinetv1alpha1.NetworkSpec{Peerings: tc.peerings}}
		got := apinetNetwork(testMember(), nw, tc.peerings)
		if !sameJSON(got, want) {
			t.Errorf("%s: apinetNetwork = %s, want %s", tc.name, asJSON(got), asJSON(want))
		}
		if got.Spec.ID != "" {
			t.Errorf("%s: spec.id %q, want it unset", tc.name, got.Spec.ID)
		}
	}
}
