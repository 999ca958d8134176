package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Label names. member (an IronCore member) and peer (an apinet peer) carry
// the label-safe cluster name (clusterprofiles.LabelValue: "<profile
// namespace>.<profile name>"). There is no "cluster" label: Thanos, Mimir and
// most multi-cluster Prometheus setups use it as the external label of the
// scraping cluster. A series about a peer itself has member="".
const (
	LabelMember     = "member"
	LabelPeer       = "peer"
	LabelRole       = "role"
	LabelController = "controller"
	LabelResult     = "result"
	LabelReason     = "reason"
	LabelKind       = "kind"
	LabelState      = "state"
	LabelVersion    = "version"
	LabelGoVersion  = "goversion"
)

// mappingLatencyBuckets are the buckets of MappingLatency and
// MappingLatencyByKind, in seconds.
var mappingLatencyBuckets = []float64{0.5, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600}

var (
	// ClusterEngaged is 1 while a member is engaged (an apinet peer: usable)
	// and 0 while it is known but paused or broken.
	ClusterEngaged = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_cluster_engaged",
		Help: "1 if the cluster is engaged (IronCore members) or usable (apinet peers), else 0.",
	}, []string{LabelMember, LabelPeer, LabelRole})

	// ClusterEngagedReason is 1 for the reason of a cluster's Engaged
	// condition now (one series per cluster), so that an alert or a table
	// can say why a member is not engaged.
	ClusterEngagedReason = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_cluster_engaged_reason",
		Help: "1 for the current reason of the cluster's Engaged condition (Engaged, Paused, PeerPaused, Unreachable, ...); one series per cluster.",
	}, []string{LabelMember, LabelPeer, LabelRole, LabelReason})

	// CredentialExpiry is when the credentials the hub uses for a cluster
	// expire, in unix seconds: the earliest of the bearer token's exp, the
	// client certificate's NotAfter and an exec credential's
	// expirationTimestamp (clusterprofiles.PropertyCredentialExpiry). No
	// series while it is unknown.
	CredentialExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_credential_expiry_timestamp_seconds",
		Help: "When the credentials the hub uses for the cluster expire (unix seconds): the earliest of the token's exp, the client certificate's NotAfter and the exec credential's expirationTimestamp. Absent while unknown.",
	}, []string{LabelMember, LabelPeer})

	// BuildInfo is 1, labelled with the hub's version.
	BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_build_info",
		Help: "1, labelled with the running apinet-hub's version and Go version.",
	}, []string{LabelVersion, LabelGoVersion})

	// ClusterProbeDuration is the latency of /readyz probes per cluster.
	ClusterProbeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apinet_hub_cluster_probe_duration_seconds",
		Help:    "Latency of the hub's health probes of a cluster (/readyz, its API group, its identity).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{LabelMember, LabelPeer, LabelRole})

	// ClusterProbeFailures counts failed probes per cluster.
	ClusterProbeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apinet_hub_cluster_probe_failures_total",
		Help: "Failed health probes of a cluster.",
	}, []string{LabelMember, LabelPeer, LabelRole})

	// EngageErrors counts failed engagements and credential problems per
	// cluster and reason (the Engaged condition's reason).
	EngageErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apinet_hub_engage_errors_total",
		Help: "Failed engagements of a cluster, by reason (Unreachable, CredentialsInvalid, ...).",
	}, []string{LabelMember, LabelPeer, LabelReason})

	// ReconcileTotal counts reconciles per controller, member and peer.
	ReconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apinet_hub_reconcile_total",
		Help: "Reconciles of IronCore objects, by controller, member, peer and result (success, error).",
	}, []string{LabelController, LabelMember, LabelPeer, LabelResult})

	// ReconcileDuration is the reconcile latency per controller, fleet-wide:
	// a slow member shows in MappingLatency (and its alert) and in
	// ClusterProbeDuration, so a per-member split would only add 90 series
	// per member that no alert or action reads.
	ReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apinet_hub_reconcile_duration_seconds",
		Help:    "Duration of reconciles of IronCore objects, by controller (fleet-wide: no member label).",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{LabelController})

	// MappingLatency is the time from an IronCore object's creation to its
	// first successful mapping (its status reports the apinet object), per
	// member, all kinds together: the alert ApinetHubMappingSlow names the
	// slow member. MappingLatencyByKind has the same observations per kind.
	// Objects created before their member was engaged are not observed
	// (they measure downtime or onboarding, not the hub). creationTimestamp
	// has a resolution of one second, so each observation is up to 1 s
	// above the true latency.
	MappingLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apinet_hub_mapping_latency_seconds",
		Help:    "Time from an IronCore object's creation to its first successful mapping, by member, all kinds (1 s resolution).",
		Buckets: mappingLatencyBuckets,
	}, []string{LabelMember})

	// MappingLatencyByKind is MappingLatency per IronCore kind, fleet-wide
	// (no member label), for the dashboard's per-kind panels.
	MappingLatencyByKind = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apinet_hub_mapping_latency_by_kind_seconds",
		Help:    "Time from an IronCore object's creation to its first successful mapping, by kind, fleet-wide: no member label (1 s resolution).",
		Buckets: mappingLatencyBuckets,
	}, []string{LabelKind})
)

// Fair queueing (reconcilers/fairqueue): how much of each member's work
// waits in a controller's queue, and how much is being reconciled, so that a
// dashboard shows who is queued.
var (
	QueueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_queue_depth",
		Help: "Requests of a member waiting in a controller's queue (pending, delayed, or in the shared queue).",
	}, []string{LabelController, LabelMember})
	ReconcilesInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "apinet_hub_reconciles_in_flight",
		Help: "Requests of a member a controller is reconciling now.",
	}, []string{LabelController, LabelMember})
)

// The gone path's deletion budget (reconcilers, clusterprofiles.Deletions):
// how many deletions of apinet objects whose IronCore source is missing a
// member holds, read from the engaged members when Prometheus scrapes.
var goneDeletionsHeldDesc = prometheus.NewDesc("apinet_hub_gone_deletions_held",
	"IronCore objects of a member whose apinet objects the gone path would delete but holds: the member's deletion budget is spent (lift with the profile annotation apinet-hub.ironcore.dev/lift-deletion-hold).",
	[]string{LabelMember, LabelPeer}, nil)

// HeldDeletions is what one engaged member's gone path holds.
type HeldDeletions struct {
	// Member is the member's and Peer its peer's label-safe name.
	Member, Peer string
	Held         int
}

var heldDeletionsSource atomic.Pointer[func() []HeldDeletions]

// SetHeldDeletionsSource sets where scrapes read the held deletions of
// every engaged member from (the reconcilers). Members that are not engaged
// have no series.
func SetHeldDeletionsSource(fn func() []HeldDeletions) { heldDeletionsSource.Store(&fn) }

// heldDeletionsCollector exports apinet_hub_gone_deletions_held at scrape
// time, so that a hold that ends because its sources came back reads 0
// without another reconcile.
type heldDeletionsCollector struct{}

func (heldDeletionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- goneDeletionsHeldDesc }

func (heldDeletionsCollector) Collect(ch chan<- prometheus.Metric) {
	src := heldDeletionsSource.Load()
	if src == nil {
		return
	}
	for _, h := range (*src)() {
		ch <- prometheus.MustNewConstMetric(goneDeletionsHeldDesc, prometheus.GaugeValue, float64(h.Held), h.Member, h.Peer)
	}
}

// collectors are every metric of the hub, registered once.
var collectors = []prometheus.Collector{ClusterEngaged, ClusterEngagedReason, CredentialExpiry, BuildInfo, ClusterProbeDuration, ClusterProbeFailures, EngageErrors,
	ReconcileTotal, ReconcileDuration, MappingLatency, MappingLatencyByKind, QueueDepth, ReconcilesInFlight, usageCollector{}, heldDeletionsCollector{}}

// clusterVecs are every vector with a member label. ReconcileDuration and
// MappingLatencyByKind have none: they are fleet-wide and stay when a
// member goes.
var clusterVecs = []interface {
	DeletePartialMatch(prometheus.Labels) int
}{ClusterEngaged, ClusterEngagedReason, CredentialExpiry, ClusterProbeDuration, ClusterProbeFailures, EngageErrors, ReconcileTotal, MappingLatency,
	QueueDepth, ReconcilesInFlight}

func init() {
	crmetrics.Registry.MustRegister(collectors...)
}

// ForgetCluster deletes every series of a cluster that left the fleet
// (its label value as member, or as peer), so that cardinality stays bounded
// by the fleet. The fleet-wide histograms (ReconcileDuration,
// MappingLatencyByKind) keep the member's observations.
func ForgetCluster(cluster string) {
	for _, v := range clusterVecs {
		v.DeletePartialMatch(prometheus.Labels{LabelMember: cluster})
	}
	for _, v := range []*prometheus.GaugeVec{ClusterEngaged, ClusterEngagedReason} {
		v.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster})
	}
	ClusterProbeDuration.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster, LabelMember: ""})
	CredentialExpiry.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster, LabelMember: ""})
	ClusterProbeFailures.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster, LabelMember: ""})
	EngageErrors.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster, LabelMember: ""})
	ReconcileTotal.DeletePartialMatch(prometheus.Labels{LabelPeer: cluster})
}

// ClusterLabels are the member and peer label values of a cluster of a
// role: a member's own and its peer's, or "" and a peer's own.
func ClusterLabels(role, self, peer string) (member, peerLabel string) {
	if role == "apinet" {
		return "", self
	}
	return self, peer
}

// SetBuildInfo sets apinet_hub_build_info for this process.
func SetBuildInfo(version, goVersion string) {
	BuildInfo.Reset()
	BuildInfo.WithLabelValues(version, goVersion).Set(1)
}
