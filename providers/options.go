package providers

import (
	"context"
	"math"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Options configures the Provider. Zero values take the defaults below,
// applied in one place (defaulted).
type Options struct {
	// Namespaces on the hub whose ClusterProfiles and credential Secrets are
	// read; empty means all namespaces.
	Namespaces []string
	// Consumer is the x-k8s.io/cluster-inventory-consumer value of credential
	// Secrets. Default clusterprofiles.DefaultConsumer.
	Consumer string
	// Access holds the access providers (exec plugins) from the provider
	// file; nil means credential Secrets only.
	Access *access.Config
	// WatchFilter is the hub's --watch-filter ("": none): a member's scope
	// may narrow it, never widen it (clusterprofiles.Scope.Within).
	WatchFilter string
	// Pairing gives a role and peer to profiles without the role label
	// (clusterprofiles.Pairing); nil handles labelled profiles only.
	Pairing *clusterprofiles.Pairing
	// Shard, if set, is this replica's share of the fleet when replicas
	// split it (ReplicaRegistry, --experimental-sharding): the provider
	// connects to, engages and reports on only the IronCore profiles the
	// replica owns, so that its memory is about its share; it connects to
	// every peer (its members may map into any) and reports only on the
	// peers it owns. nil: this replica owns every profile.
	Shard Shard
	// Scheme is used by member and peer clusters. Required.
	Scheme *runtime.Scheme

	// QPS and Burst of each member's client: one token bucket per member
	// connection, shared by its caches, clients and probes. Default 100 /
	// 200: client-go's 5 / 10 throttle a controller that serves a busy
	// cluster.
	QPS   float32
	Burst int
	// PeerQPS and PeerBurst bound the hub's whole load on one apinet peer:
	// one token bucket per peer connection, shared by every member mapped
	// into it (they write through the peer's one shared client). Default
	// 200 / 400.
	PeerQPS   float32
	PeerBurst int
	// DialTimeout bounds a TCP connect (default 5s); RequestTimeout bounds
	// probes and the hub's one-off requests (default 30s).
	DialTimeout, RequestTimeout time.Duration
	// EngageTimeout bounds building, syncing and engaging one cluster
	// (default 2m). EngageWorkers clusters are engaged at once (default 16:
	// engaging mostly waits on the network, and a fleet of hundreds should
	// not queue behind a few workers),
	// at most EngagePeerShare of them members of one peer (default half the
	// workers, at least 1), so that a slow peer cannot hold every worker.
	EngageTimeout   time.Duration
	EngageWorkers   int
	EngagePeerShare int
	// DrainTimeout bounds how long disengaging a member for offboarding
	// waits for its running reconciles, which it cancels, to end before
	// ReasonOffboarding is reported (default 30s).
	DrainTimeout time.Duration
	// ProbeInterval between health probes of each cluster (default 10s);
	// ProbeFailureThreshold consecutive failures pause it (default 3);
	// ProbeSuccessThreshold consecutive successes resume it (default 2).
	ProbeInterval                                time.Duration
	ProbeFailureThreshold, ProbeSuccessThreshold int
	// RetryInterval is the first wait after a failed engagement (default
	// 15s); each further failure doubles it, with up to 50% jitter, up to
	// MaxRetryInterval (default 5m).
	RetryInterval, MaxRetryInterval time.Duration
	// FieldManager of the hub's status applies on ClusterProfiles
	// (default "apinet-hub").
	FieldManager string
	// MappedObjects counts the apinet objects the hub maps for an engaged
	// member, reported on its profile (clusterprofiles.PropertyMappedObjects)
	// every StatusInterval (default 30s) when it changed; nil reports none.
	MappedObjects  func(context.Context, *clusterprofiles.Member) (int, error)
	StatusInterval time.Duration
	// Preflight, if set, checks a member's synced IronCore cache before it
	// is engaged, against the apinet namespace it is to map into; a Problem
	// refuses the engagement (and is retried with its backoff).
	Preflight func(ctx context.Context, member client.Reader, apinetNamespace string) *clusterprofiles.Problem
	// ProveAdoption, if set, checks the apinet objects without a cluster
	// label in a member's namespace before the member adopts them (a
	// take-over): a Problem refuses the engagement before anything is
	// written. member is the member's synced IronCore cache.
	ProveAdoption func(ctx context.Context, member client.Reader, unlabelled []client.Object) *clusterprofiles.Problem
}

func (o Options) defaulted() Options {
	if o.Consumer == "" {
		o.Consumer = clusterprofiles.DefaultConsumer
	}
	if o.QPS == 0 {
		o.QPS = 100
	}
	if o.Burst == 0 {
		o.Burst = 200
	}
	if o.PeerQPS == 0 {
		o.PeerQPS = 200
	}
	if o.PeerBurst == 0 {
		o.PeerBurst = 400
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.EngageTimeout == 0 {
		o.EngageTimeout = 2 * time.Minute
	}
	if o.EngageWorkers == 0 {
		o.EngageWorkers = 16
	}
	if o.EngagePeerShare <= 0 {
		o.EngagePeerShare = max(o.EngageWorkers/2, 1)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 10 * time.Second
	}
	if o.ProbeFailureThreshold == 0 {
		o.ProbeFailureThreshold = 3
	}
	if o.ProbeSuccessThreshold == 0 {
		o.ProbeSuccessThreshold = 2
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 15 * time.Second
	}
	if o.MaxRetryInterval == 0 {
		o.MaxRetryInterval = 5 * time.Minute
	}
	if o.MaxRetryInterval < o.RetryInterval {
		o.MaxRetryInterval = o.RetryInterval
	}
	if o.StatusInterval == 0 {
		o.StatusInterval = 30 * time.Second
	}
	if o.FieldManager == "" {
		o.FieldManager = "apinet-hub"
	}
	return o
}

// retryBackoff is the backoff of failed engagements, fresh.
func (o Options) retryBackoff() wait.Backoff {
	return wait.Backoff{Duration: o.RetryInterval, Factor: 2, Jitter: 0.5, Steps: math.MaxInt32, Cap: o.MaxRetryInterval}
}

// tune returns a copy of a cluster's credentials config with the hub's
// transport settings: rate limits and dial timeout. The rate limiter is
// one token bucket for everything built on the config (client-go would
// otherwise give each REST client, one per kind, a bucket of its own), a
// peer's shared by all its members. It sets no overall
// Timeout, which would also cut every watch; requests are bounded by their
// contexts, TLS handshakes by client-go's 10s default, and probes and
// one-off calls use withTimeout.
func (o Options) tune(cfg *rest.Config, name string, role clusterprofiles.Role) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	if role == clusterprofiles.RoleAPINet {
		cfg.QPS, cfg.Burst = o.PeerQPS, o.PeerBurst
	}
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	cfg.Dial = dialer.DialContext
	cfg.UserAgent = "apinet-hub (cluster " + name + ")"
	return cfg
}

// withTimeout is cfg with RequestTimeout on every request, for probes and
// one-off clients (never for caches).
func (o Options) withTimeout(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.RequestTimeout
	return cfg
}

// HubCacheOptions restricts the hub manager's cache to what the provider
// reads: ClusterProfiles that carry the role label (every profile when
// the pairing may select unlabelled ones), and Secrets labelled for the
// consumer, in the watched namespaces only (so the hub needs no
// cluster-wide Secret access when namespaces are given).
func HubCacheOptions(o Options) cache.Options {
	o = o.defaulted()
	roleSelected, err := labels.NewRequirement(clusterprofiles.LabelRole, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key
	}
	profiles := cache.ByObject{Label: labels.NewSelector().Add(*roleSelected)}
	if o.Pairing.PairsUnlabelled() {
		profiles = cache.ByObject{}
	}
	var namespaces map[string]cache.Config
	for _, ns := range o.Namespaces {
		if namespaces == nil {
			namespaces = map[string]cache.Config{}
		}
		namespaces[ns] = cache.Config{}
	}
	return cache.Options{
		DefaultNamespaces: namespaces,
		DefaultTransform:  cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&clusterinventoryv1alpha1.ClusterProfile{}: profiles,
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{clusterprofiles.LabelSecretConsumer: o.Consumer})},
		},
	}
}

// Shard is a replica's share of the fleet (Options.Shard).
type Shard interface {
	// Ready is closed once the replicas are known: before, a replica
	// cannot tell its share, and owns nothing.
	Ready() <-chan struct{}
	// Owns reports whether this replica owns the profile.
	Owns(types.NamespacedName) bool
	// Changes signals that ownership may have changed.
	Changes() <-chan struct{}
}
