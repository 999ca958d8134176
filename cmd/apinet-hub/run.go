package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/manager/coordinator/sharded"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/metrics"
	"github.com/apinet-hub/apinet-hub/providers"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// hubFlags are the flags of `apinet-hub run`.
type hubFlags struct {
	hub                     hubConnection
	namespaces              []string
	providerFile            string
	leaderElect             bool
	leaderElectionNS        string
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	sharding                bool
	shardID                 string
	shardLeaseQPS           float64
	metricsAddr             string
	metricsSecure           bool
	metricsCertDir          string
	enableHTTP2             bool
	probeAddr               string
	hubQPS, memberQPS       float64
	peerQPS                 float64
	pprofAddr               string
	hubBurst                int
	provider                providers.Options
	pairingFile             string
	reconcileTimeout        time.Duration
	reconcilers             reconcilers.Options
	zap                     zap.Options
	maxConcurrentReconciles int
	memoryLimit             int64
}

func (f *hubFlags) bind(fs *pflag.FlagSet) {
	f.hub.bind(fs, "context")
	fs.Func("namespace", "hub namespace whose ClusterProfiles and credential Secrets are read (repeatable; none: all namespaces)", func(v string) error {
		if v == "" {
			return errors.New("empty namespace")
		}
		f.namespaces = append(f.namespaces, v)
		return nil
	})
	fs.StringVar(&f.provider.Consumer, "consumer", clusterprofiles.DefaultConsumer, "x-k8s.io/cluster-inventory-consumer label value of credential Secrets")
	fs.StringVar(&f.providerFile, "clusterprofile-provider-file", "", "Cluster Inventory access-provider file (JSON); none: credential Secrets only")
	fs.StringVar(&f.pairingFile, "pairing-file", "",
		"hub-side pairing (YAML, kind Pairing): rules giving a role and peer to ClusterProfiles without the "+clusterprofiles.LabelRole+" label, e.g. profiles written by Open Cluster Management; read at start. None: labelled profiles only")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "run several replicas with one active leader")
	fs.StringVar(&f.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader-election Lease, and of the shard Leases (default: the pod's namespace)")
	fs.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a standby waits before it takes over from a leader that stopped renewing")
	fs.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader retries renewing before it gives up leadership")
	fs.DurationVar(&f.retryPeriod, "leader-election-retry-period", 2*time.Second, "interval between leader-election attempts")
	fs.BoolVar(&f.sharding, "experimental-sharding", false,
		"EXPERIMENTAL: instead of one leader, every replica connects to, engages and reconciles only its share of the members (rendezvous hashing over the live replicas; multicluster-runtime's sharded coordinator fences each member with one Lease); excludes --leader-elect")
	fs.StringVar(&f.shardID, "shard-id", "", "identity of this replica among the shards (default: <hostname>-<pid>)")
	fs.Float64Var(&f.shardLeaseQPS, "shard-lease-qps", 200,
		"with --experimental-sharding: client QPS (burst twice as much) for the shard Leases, apart from --hub-qps; each owned member's fence is renewed every half lease duration with two requests")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint (0 disables it)")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true,
		"serve metrics over HTTPS, only to clients whose token the hub cluster authenticates (TokenReview) and authorizes to get the non-resource URL /metrics (SubjectAccessReview); false: plain HTTP, to anyone")
	fs.StringVar(&f.metricsCertDir, "metrics-cert-dir", "", "folder with tls.crt and tls.key of the metrics endpoint (empty: a self-signed certificate, made at start)")
	fs.BoolVar(&f.enableHTTP2, "enable-http2", false, "allow HTTP/2 on the metrics endpoint (off: HTTP/1.1 only, against HTTP/2 stream-reset and rapid-reset attacks)")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (0 disables them)")
	fs.StringVar(&f.pprofAddr, "pprof-bind-address", "",
		"address of Go's /debug/pprof/ endpoints (heap, goroutine, profile), plain HTTP without authentication: bind it to localhost and reach it with kubectl port-forward (empty: off)")
	fs.Float64Var(&f.hubQPS, "hub-qps", 50, "client QPS towards the hub cluster")
	fs.IntVar(&f.hubBurst, "hub-burst", 100, "client burst towards the hub cluster")
	fs.Float64Var(&f.memberQPS, "member-qps", 100, "client QPS towards each member cluster (one token bucket per member)")
	fs.Float64Var(&f.peerQPS, "peer-qps", 200, "client QPS towards each apinet peer, shared by all the members mapped into it (one token bucket per peer)")
	fs.IntVar(&f.provider.PeerBurst, "peer-burst", 400, "client burst towards each apinet peer, shared by its members")
	fs.IntVar(&f.provider.Burst, "member-burst", 200, "client burst towards each member cluster")
	fs.DurationVar(&f.provider.DialTimeout, "dial-timeout", 5*time.Second, "TCP connect timeout towards members and peers")
	fs.DurationVar(&f.provider.RequestTimeout, "request-timeout", 30*time.Second, "timeout of health probes and one-off requests to members and peers")
	fs.DurationVar(&f.provider.EngageTimeout, "engage-timeout", 2*time.Minute, "deadline to connect, sync and engage one member")
	fs.IntVar(&f.provider.EngageWorkers, "engage-workers", 16, "members and peers connected at once (connecting mostly waits on the network)")
	fs.IntVar(&f.provider.EngagePeerShare, "engage-peer-share", 0, "members of one apinet peer connected at once, so that a slow peer cannot hold every engage worker (0: half of --engage-workers, at least 1)")
	fs.DurationVar(&f.provider.ProbeInterval, "probe-interval", 10*time.Second, "interval of health probes of each member and peer (/readyz, the API group the hub uses, and a member's identity)")
	fs.IntVar(&f.provider.ProbeFailureThreshold, "probe-failure-threshold", 3, "consecutive failed probes that pause a member (or a peer and its members)")
	fs.IntVar(&f.provider.ProbeSuccessThreshold, "probe-success-threshold", 2, "consecutive successful probes that resume a paused member or peer")
	fs.DurationVar(&f.provider.RetryInterval, "retry-interval", 15*time.Second, "first wait before retrying a member that failed to engage; doubled (with jitter) on each further failure")
	fs.DurationVar(&f.provider.MaxRetryInterval, "max-retry-interval", 5*time.Minute, "longest wait between engagement retries of a member")
	fs.DurationVar(&f.provider.StatusInterval, "profile-status-interval", 30*time.Second,
		"interval at which an engaged member's profile gets the number of apinet objects mapped for it (status property "+clusterprofiles.PropertyMappedObjects+", written only when it changed)")
	fs.StringVar(&f.reconcilers.WatchFilter, "watch-filter", "", "only reconcile IronCore objects labelled common.ironcore.dev/watch-filter=<value>, selected server-side by each member's caches; a profile's "+clusterprofiles.AnnotationWatchFilter+" may only repeat it")
	fs.BoolVar(&f.reconcilers.DisableNetworkPeering, "disable-network-peering", false,
		"do not report IronCore Network status.peerings (a member's profile may override it with annotation "+clusterprofiles.AnnotationDisableNetworkPeering+")")
	fs.BoolVar(&f.reconcilers.NodeAffinityAware, "is-node-affinity-aware", false,
		"pin load balancer instances to their targets' nodes (annotation "+clusterprofiles.AnnotationNodeAffinityAware+" on a ClusterProfile overrides it)")
	nat := reconcilers.DefaultNATLimits
	f.reconcilers.NATPublicIPs = &nat
	fs.Func("nat-min-public-ips", "default minimum of public IPs per NAT gateway (default 1; annotation "+reconcilers.AnnotationNATMinPublicIPs+" on an apinet ClusterProfile replaces it for the peer's members, on a member's ClusterProfile for that member, within any ceiling set above; on a NATGateway it may only narrow the range)",
		int32Flag(&nat.Min))
	fs.Func("nat-max-public-ips", "default maximum of public IPs per NAT gateway (default 10; annotation "+reconcilers.AnnotationNATMaxPublicIPs+" on an apinet ClusterProfile replaces it for the peer's members, on a member's ClusterProfile for that member, within any ceiling set above; on a NATGateway it may only narrow the range)",
		int32Flag(&nat.Max))
	fs.Func("memory-limit", "the container's memory limit (bytes or a quantity such as 1Gi; the chart passes limits.memory): the Go runtime's soft memory limit is set to 90 % of it, so that the garbage collector works harder before the container is killed (GOMEMLIMIT in the environment takes precedence)", func(v string) error {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return fmt.Errorf("%q is not a memory quantity > 0", v)
		}
		f.memoryLimit = q.Value()
		return nil
	})
	fs.DurationVar(&f.reconcileTimeout, "reconcile-timeout", time.Minute, "deadline of one reconcile")
	fs.IntVar(&f.maxConcurrentReconciles, "max-concurrent-reconciles", 8, "workers per controller, shared by all members")
	fs.DurationVar(&f.reconcilers.UnmappedGrace, "unmapped-grace", reconcilers.DefaultUnmappedGrace,
		"age after which an IronCore object the hub has not mapped counts in apinet_hub_objects_unmapped")
	fs.IntVar(&f.reconcilers.Fairness.Share, "member-queue-share", 1,
		"requests of one member that may wait in a controller's shared queue at once: a member's fresh event waits behind at most this many of every other member's (0 turns fair queueing off)")
	fs.IntVar(&f.reconcilers.Fairness.MaxInFlight, "member-max-in-flight", 0,
		"requests of one member a controller reconciles at once, so a slow member cannot hold every worker (0: half of --max-concurrent-reconciles)")
	budget := &f.reconcilers.GoneDeletions
	budget.Percent, budget.Min, budget.Window = reconcilers.DefaultGoneDeletionBudgetPercent, reconcilers.DefaultGoneDeletionBudgetMin, reconcilers.DefaultGoneDeletionBudgetWindow
	fs.Func("gone-deletion-budget-percent", fmt.Sprintf("per member and --gone-deletion-budget-window, the gone path removes the apinet objects of at most this percentage of the member's mapped objects whose IronCore source is missing (or --gone-deletion-budget-min, if larger); further removals are held until annotation %s on the profile changes or the sources come back (1-100, default %d)",
		clusterprofiles.AnnotationLiftDeletionHold, reconcilers.DefaultGoneDeletionBudgetPercent), boundedIntFlag(&budget.Percent, 1, 100))
	fs.Func("gone-deletion-budget-min", fmt.Sprintf("gone-path removals every member may do per --gone-deletion-budget-window, however few objects it has (>= 1, default %d)", reconcilers.DefaultGoneDeletionBudgetMin),
		boundedIntFlag(&budget.Min, 1, math.MaxInt32))
	fs.Func("gone-deletion-budget-window", fmt.Sprintf("period of the gone-path deletion budget (> 0, default %s)", reconcilers.DefaultGoneDeletionBudgetWindow), func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a duration > 0", v)
		}
		budget.Window = d
		return nil
	})
	// controller-runtime's zap options bind to the standard library's flags.
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	f.zap.BindFlags(zapFlags)
	fs.AddGoFlagSet(zapFlags)
}

// boundedIntFlag parses an int flag value in [lo, hi] into dst.
func boundedIntFlag(dst *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a number from %d to %d", v, lo, hi)
		}
		*dst = n
		return nil
	}
}

// int32Flag parses a non-negative int32 flag value into dst.
func int32Flag(dst *int32) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number >= 0", v)
		}
		*dst = int32(n)
		return nil
	}
}

func newRunCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "run [flags]",
		Short: "run the hub",
		Long: `Runs the hub: reads the fleet's ClusterProfiles and credential Secrets on the
hub cluster, connects to every member and peer, and maps the members' IronCore
networking objects into their peers. See docs/operations.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHub(cmd.Context(), &f)
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

func runHub(ctx context.Context, f *hubFlags) error {
	if f.sharding && f.leaderElect {
		return usagef("--experimental-sharding and --leader-elect exclude each other: shards share the work, a leader does all of it")
	}
	if f.shardLeaseQPS <= 0 {
		return usagef("--shard-lease-qps %v: want a positive rate", f.shardLeaseQPS)
	}
	if nat := f.reconcilers.NATPublicIPs; nat.Min > nat.Max {
		return usagef("--nat-min-public-ips %d is above --nat-max-public-ips %d", nat.Min, nat.Max)
	}
	pairing, err := clusterprofiles.LoadPairing(f.pairingFile)
	if err != nil {
		return usagef("--pairing-file: %v", err)
	}
	f.provider.Pairing = pairing
	setupLogging(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")
	metrics.SetBuildInfo(versionString(), runtime.Version())
	if limit, ok := goMemoryLimit(f.memoryLimit, os.Getenv("GOMEMLIMIT")); ok {
		debug.SetMemoryLimit(limit)
		log.Info("Go soft memory limit set", "bytes", limit, "containerLimit", f.memoryLimit)
	}

	cfg, err := f.hub.restConfig()
	if err != nil {
		log.Error(err, "hub kubeconfig")
		return exitError(exitFailed)
	}
	mgr, err := newHub(cfg, f)
	if err != nil {
		log.Error(err, "set up the hub")
		return exitError(exitFailed)
	}
	log.Info("starting apinet-hub", "version", versionString(), "namespaces", f.namespaces, "leaderElection", f.leaderElect)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "hub stopped")
		return exitError(exitFailed)
	}
	return nil
}

// newHub wires the hub manager: the ClusterProfile provider, and every
// reconciler, on one multicluster manager.
func newHub(cfg *rest.Config, f *hubFlags) (mcmanager.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(f.hubQPS), f.hubBurst
	f.provider.QPS = float32(f.memberQPS)
	f.provider.PeerQPS = float32(f.peerQPS)
	f.provider.Scheme = clusterprofiles.Scheme
	f.provider.Namespaces = f.namespaces
	f.provider.WatchFilter = f.reconcilers.WatchFilter
	f.provider.MappedObjects = reconcilers.MappedObjects
	f.provider.Preflight = reconcilers.CheckProviderIDNamespaces
	f.provider.ProveAdoption = reconcilers.ProveAdoption
	if f.providerFile != "" {
		ac, err := access.NewFromFile(f.providerFile)
		if err != nil {
			return nil, fmt.Errorf("--clusterprofile-provider-file: %w", err)
		}
		f.provider.Access = ac
	}

	hub, err := manager.New(cfg, manager.Options{
		Scheme:                  clusterprofiles.Scheme,
		MapperProvider:          providers.MemoizedDynamicMapper,
		Cache:                   providers.HubCacheOptions(f.provider),
		Metrics:                 metricsOptions(f),
		HealthProbeBindAddress:  f.probeAddr,
		PprofBindAddress:        f.pprofAddr,
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "apinet-hub.ironcore.dev",
		LeaderElectionNamespace: f.leaderElectionNS,
		LeaseDuration:           &f.leaseDuration,
		RenewDeadline:           &f.renewDeadline,
		RetryPeriod:             &f.retryPeriod,
		// The binary exits right after the manager stops, so a leader that
		// shuts down hands over at once instead of after a lease duration.
		LeaderElectionReleaseOnCancel: true,
		Controller: config.Controller{
			ReconciliationTimeout:   f.reconcileTimeout,
			MaxConcurrentReconciles: f.maxConcurrentReconciles,
		},
	})
	if err != nil {
		return nil, err
	}
	var mcOpts []mcmanager.Option
	if f.sharding {
		coordinator, replicas, err := shardedCoordinator(cfg, f)
		if err != nil {
			return nil, err
		}
		// The provider engages only this replica's members: the same
		// replicas, the same hashing as the coordinator's fences.
		f.provider.Shard = replicas
		mcOpts = append(mcOpts, mcmanager.WithCoordinator(providers.ShardedCoordinator(coordinator)))
	}
	topology := clusterprofiles.NewTopology()
	provider := providers.New(hub, topology, f.provider)
	if err := provider.SetupWithManager(hub); err != nil {
		return nil, err
	}
	mgr, err := mcmanager.WithMultiCluster(hub, provider, mcOpts...)
	if err != nil {
		return nil, err
	}
	if err := reconcilers.SetupWithManager(context.Background(), mgr, topology, f.reconcilers); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("hub", readiness(hub.Elected(), hub.GetCache().WaitForCacheSync, provider.Running)); err != nil {
		return nil, err
	}
	return mgr, nil
}

// metricsOptions serves metrics over HTTPS behind controller-runtime's
// authentication and authorization filter, HTTP/1.1 only, unless the flags
// say otherwise.
func metricsOptions(f *hubFlags) metricsserver.Options {
	o := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure, CertDir: f.metricsCertDir}
	if f.metricsSecure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if !f.enableHTTP2 {
		o.TLSOpts = append(o.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return o
}

// setupLogging makes logger the hub's logger, and client-go's: klog's
// output (client-go, leader election) goes through it too.
func setupLogging(logger logr.Logger) {
	ctrl.SetLogger(logger)
	klog.SetLoggerWithOptions(logger.WithName("klog"), klog.ContextualLogger(true))
}

// readinessSyncTimeout bounds how long one /readyz waits for the caches.
const readinessSyncTimeout = 100 * time.Millisecond

// readiness is the hub's /readyz check: ready once the hub's caches have
// synced and, where this replica does the work (it leads, or there is no
// leader election), once the provider runs. A standby waiting for the lease
// is ready with synced caches, so rollouts and disruption budgets count it.
func readiness(elected <-chan struct{}, synced func(context.Context) bool, running func() bool) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), readinessSyncTimeout)
		defer cancel()
		if !synced(ctx) {
			return errors.New("the hub's caches of ClusterProfiles and Secrets have not synced yet")
		}
		select {
		case <-elected:
			if !running() {
				return errors.New("leading, but the ClusterProfile provider has not started yet")
			}
		default: // a standby
		}
		return nil
	}
}

// goMemoryLimit is the Go runtime's soft memory limit for a container
// limit (0: none): 90 % of it, leaving the rest to what the runtime does not
// count (stacks of the OS, cgo, page tables). None when GOMEMLIMIT is set
// (the runtime has read it, and the operator's explicit value wins), and
// none below 32 MiB, which no hub runs in: a typo there would make the
// collector run without pause.
func goMemoryLimit(containerLimit int64, gomemlimit string) (int64, bool) {
	if containerLimit < 32<<20 || gomemlimit != "" {
		return 0, false
	}
	return containerLimit / 10 * 9, true
}

// shardedCoordinator spreads members over the replicas that run with
// --experimental-sharding: a replica reconciles a member only while it holds
// that member's Lease (apinet-hub-shard-<namespace>.<name>, bounded:
// providers.ShardedCoordinator), and replicas find each
// other through Leases named apinet-hub-peer-<shard id>, all in the
// leader-election namespace; --leader-election-lease-duration applies to
// them. The registry of replicas it returns is also the provider's Shard:
// a replica connects to and engages only the members it owns, so memory
// per replica is about its share of the fleet.
func shardedCoordinator(cfg *rest.Config, f *hubFlags) (*sharded.Coordinator, *providers.Replicas, error) {
	namespace := f.leaderElectionNS
	if namespace == "" {
		ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, nil, errors.New("--experimental-sharding needs --leader-election-namespace outside a pod")
		}
		namespace = strings.TrimSpace(string(ns))
	}
	id := f.shardID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	// Leases are read directly: the hub's cache holds only the fleet
	// namespaces. Each owned member's fence is renewed every half lease
	// duration with a GET and an UPDATE: 500 members at 15 s make about 130
	// requests/s across the replicas, which the hub's client budget for
	// everything else (--hub-qps) must not throttle (fences would expire).
	leaseCfg := rest.CopyConfig(cfg)
	leaseCfg.QPS, leaseCfg.Burst = float32(f.shardLeaseQPS), 2*int(f.shardLeaseQPS)
	c, err := client.New(leaseCfg, client.Options{})
	if err != nil {
		return nil, nil, err
	}
	log := ctrl.Log.WithName("shards")
	replicas := providers.ReplicaRegistry(c, namespace, "apinet-hub-peer", id, providers.ReplicaTTL(f.leaseDuration), log)
	return sharded.New(c, log,
		sharded.WithShardLease(namespace, "apinet-hub-shard"),
		// A dead replica's members move after one lease duration, as with
		// leader election; renewing at half of it is the upstream ratio.
		sharded.WithLeaseTimings(f.leaseDuration, f.leaseDuration/2, 750*time.Millisecond),
		// Replicas are read every second and live a third of a lease
		// duration (ReplicaTTL): the survivors build a dead replica's
		// members' caches while its fences expire, and take them over
		// about one lease duration after its last renewal; a stopped
		// replica's members move at once.
		sharded.WithPeerRegistry(replicas),
		sharded.WithSharder(providers.Sharder()),
		sharded.WithSynchronizationIntervals(time.Second, 15*time.Second),
	), replicas, nil
}
