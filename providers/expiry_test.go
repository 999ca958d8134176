package providers

import (
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
)

func TestConnectionExpiryIsTheEarliest(t *testing.T) {
	a, b := time.Unix(1800000000, 0), time.Unix(1900000000, 0)
	for _, tc := range []struct {
		static, exec, want time.Time
	}{
		{time.Time{}, time.Time{}, time.Time{}},
		{a, time.Time{}, a},
		{time.Time{}, b, b},
		{a, b, a},
		{b, a, a},
	} {
		c := &connection{staticExpiry: tc.static, execExpiry: tc.exec}
		if got := c.expiry(); !got.Equal(tc.want) {
			t.Errorf("expiry(%v, %v) = %v, want %v", tc.static, tc.exec, got, tc.want)
		}
	}
}

// expirySeries are the metrics.CredentialExpiry series of member, by peer.
func expirySeries(t *testing.T, member string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	metrics.CredentialExpiry.Collect(ch)
	close(ch)
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels[metrics.LabelMember] == member {
			out[labels[metrics.LabelPeer]] = d.GetGauge().GetValue()
		}
	}
	return out
}

// TestExportExpiry follows one profile's series through what changes it:
// known, its peer renamed, unknown, known again, the connection gone; and a
// peer's, with member="".
func TestExportExpiry(t *testing.T) {
	p := &Provider{}
	key := types.NamespacedName{Namespace: "fleet", Name: "expiry-member"}
	rec := &record{key: key, profile: &clusterprofiles.Profile{Key: key, Role: clusterprofiles.RoleIronCore,
		Peer: types.NamespacedName{Namespace: "fleet", Name: "peer-a"}}}
	rec.conn = &connection{role: clusterprofiles.RoleIronCore, staticExpiry: time.Unix(1800000000, 0)}
	defer metrics.ForgetCluster("fleet.expiry-member")
	expect := func(step string, want map[string]float64) {
		t.Helper()
		if got := expirySeries(t, "fleet.expiry-member"); !maps.Equal(got, want) {
			t.Fatalf("%s: series %v, want %v", step, got, want)
		}
	}

	p.exportExpiryLocked(rec)
	expect("known", map[string]float64{"fleet.peer-a": 1800000000})
	rec.profile.Peer.Name = "peer-b"
	p.exportExpiryLocked(rec)
	expect("another peer", map[string]float64{"fleet.peer-b": 1800000000})
	rec.conn.staticExpiry = time.Time{}
	p.exportExpiryLocked(rec)
	expect("unknown", map[string]float64{})
	rec.conn.execExpiry = time.Unix(1700000000, 0)
	p.exportExpiryLocked(rec)
	expect("the exec plugin's", map[string]float64{"fleet.peer-b": 1700000000})
	rec.conn = nil
	p.exportExpiryLocked(rec)
	expect("no connection", map[string]float64{})

	peerKey := types.NamespacedName{Namespace: "fleet", Name: "expiry-peer"}
	peer := &record{key: peerKey, profile: &clusterprofiles.Profile{Key: peerKey, Role: clusterprofiles.RoleAPINet},
		conn: &connection{role: clusterprofiles.RoleAPINet, staticExpiry: time.Unix(1800000000, 0)}}
	p.exportExpiryLocked(peer)
	if got := expirySeries(t, ""); got["fleet.expiry-peer"] != 1800000000 {
		t.Fatalf("a peer's series: %v", got)
	}
	metrics.ForgetCluster("fleet.expiry-peer")
	if _, ok := expirySeries(t, "")["fleet.expiry-peer"]; ok {
		t.Fatalf("ForgetCluster left the peer's series")
	}
}
