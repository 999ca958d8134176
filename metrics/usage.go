package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Usage is what one IronCore member holds in its apinet peer, read from the
// hub's caches when Prometheus scrapes.
type Usage struct {
	// Member is the member's and Peer its peer's label-safe name.
	Member, Peer string
	// Objects counts the apinet objects mapped for the member, by IronCore
	// kind ("network", "virtualip", ...). Every kind is present, zeros too.
	Objects map[string]int
	// PublicIPs counts the public addresses the member holds in the peer
	// (VirtualIPs, NAT gateway IPs, public load balancer IPs).
	PublicIPs int
	// Unmapped counts the member's IronCore objects, by kind, that the hub
	// handles and has not mapped although they are older than the grace
	// period (reconcilers.Options.UnmappedGrace). Every kind is present.
	Unmapped map[string]int
	// NATUsed and NATRequested sum the NAT IPs (address and port ranges)
	// the peer reports as used and requested on the member's NAT gateways.
	NATUsed, NATRequested int64
	// PublicIPsByKind splits PublicIPs by the IronCore kind that holds them
	// ("virtualip", "loadbalancer", "natgateway"); every kind is present.
	PublicIPsByKind map[string]int
	// NATShort counts the member's NAT gateways that are short of public
	// IPs: holding fewer than their autoscaler asks for (see
	// reconcilers.natShort).
	NATShort int
}

var (
	objectsMappedDesc = prometheus.NewDesc("apinet_hub_objects_mapped",
		"apinet objects the hub maintains for a member, by IronCore kind.",
		[]string{LabelKind, LabelMember, LabelPeer}, nil)
	objectsUnmappedDesc = prometheus.NewDesc("apinet_hub_objects_unmapped",
		"IronCore objects of a member the hub handles but has not mapped, older than the grace period (--unmapped-grace), by kind.",
		[]string{LabelKind, LabelMember, LabelPeer}, nil)
	publicIPsDesc = prometheus.NewDesc("apinet_hub_public_ips",
		"Public IP addresses a member holds in its apinet peer (VirtualIPs, NAT gateways, public load balancers).",
		[]string{LabelMember, LabelPeer}, nil)
	natIPsDesc = prometheus.NewDesc("apinet_hub_nat_ips",
		"NAT IPs of a member's NAT gateways as reported by the apinet peer, by state (used, requested).",
		[]string{LabelMember, LabelPeer, LabelState}, nil)
	peerPublicIPsDesc = prometheus.NewDesc("apinet_hub_peer_public_ips",
		"Public IP addresses the hub's engaged members hold in an apinet peer, by the IronCore kind holding them (virtualip, loadbalancer, natgateway).",
		[]string{LabelPeer, LabelKind}, nil)
	natShortDesc = prometheus.NewDesc("apinet_hub_nat_gateways_short",
		"NAT gateways of a member holding fewer public IPs than their autoscaler asks for.",
		[]string{LabelMember, LabelPeer}, nil)
)

// UsageSource reads the Usage of every engaged member; ctx bounds it.
type UsageSource func(ctx context.Context) []Usage

var usageSource atomic.Pointer[UsageSource]

// SetUsageSource sets where scrapes read usage from (the reconcilers, which
// know the engaged members and their peer caches). Until it is set, no usage
// series are exported. Members that are not engaged have no series: their
// cardinality goes with them.
func SetUsageSource(fn UsageSource) { usageSource.Store(&fn) }

// usageScrapeTimeout bounds one scrape's reads of the caches.
const usageScrapeTimeout = 5 * time.Second

// usageCollector exports Usage as gauges at scrape time.
type usageCollector struct{}

func (usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- objectsMappedDesc
	ch <- objectsUnmappedDesc
	ch <- publicIPsDesc
	ch <- natIPsDesc
	ch <- peerPublicIPsDesc
	ch <- natShortDesc
}

func (usageCollector) Collect(ch chan<- prometheus.Metric) {
	src := usageSource.Load()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), usageScrapeTimeout)
	defer cancel()
	// A peer's totals: the sum over its members read in this scrape.
	perPeer := map[string]map[string]int{}
	for _, u := range (*src)(ctx) {
		if perPeer[u.Peer] == nil {
			perPeer[u.Peer] = map[string]int{}
		}
		for kind, n := range u.PublicIPsByKind {
			perPeer[u.Peer][kind] += n
		}
		ch <- prometheus.MustNewConstMetric(natShortDesc, prometheus.GaugeValue, float64(u.NATShort), u.Member, u.Peer)
		for kind, n := range u.Objects {
			ch <- prometheus.MustNewConstMetric(objectsMappedDesc, prometheus.GaugeValue, float64(n), kind, u.Member, u.Peer)
		}
		for kind, n := range u.Unmapped {
			ch <- prometheus.MustNewConstMetric(objectsUnmappedDesc, prometheus.GaugeValue, float64(n), kind, u.Member, u.Peer)
		}
		ch <- prometheus.MustNewConstMetric(publicIPsDesc, prometheus.GaugeValue, float64(u.PublicIPs), u.Member, u.Peer)
		ch <- prometheus.MustNewConstMetric(natIPsDesc, prometheus.GaugeValue, float64(u.NATUsed), u.Member, u.Peer, "used")
		ch <- prometheus.MustNewConstMetric(natIPsDesc, prometheus.GaugeValue, float64(u.NATRequested), u.Member, u.Peer, "requested")
	}
	for peer, kinds := range perPeer {
		for kind, n := range kinds {
			ch <- prometheus.MustNewConstMetric(peerPublicIPsDesc, prometheus.GaugeValue, float64(n), peer, kind)
		}
	}
}
