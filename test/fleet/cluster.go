package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	utilsenvtest "github.com/ironcore-dev/ironcore/utils/envtest"
	"github.com/ironcore-dev/ironcore/utils/envtest/apiserver"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Role says what a fleet cluster is for.
type Role string

const (
	// RoleHub is the cluster apinet-hub runs on; it serves ClusterProfiles.
	RoleHub Role = "hub"
	// RoleIronCore is an IronCore member: it serves networking.ironcore.dev.
	RoleIronCore Role = "ironcore"
	// RoleAPINet is an apinet peer: it serves core.apinet.ironcore.dev.
	RoleAPINet Role = "apinet"
)

// Spec describes one cluster of a fleet.
type Spec struct {
	// Name is unique in the fleet and names the cluster's work folder.
	Name string
	Role Role
	// PublicPrefixes are the apinet apiserver's --public-prefix values
	// (RoleAPINet only). Defaults to DefaultPublicPrefixes(0).
	PublicPrefixes []string
	// ControllerManager also runs the real apinet controller-manager (NAT
	// port allocation and autoscaling, load balancer instances) against the
	// cluster (RoleAPINet only).
	ControllerManager bool
}

// DefaultPublicPrefixes returns distinct public prefixes (one IPv4, one IPv6)
// for the i-th apinet peer, so that peers never hand out the same address.
func DefaultPublicPrefixes(i int) []string {
	return []string{fmt.Sprintf("10.250.%d.0/24", i), fmt.Sprintf("fdfe:%x::/112", i)}
}

const (
	startTimeout = 90 * time.Second // 2 cores starting several control planes at once
	stopTimeout  = 30 * time.Second
)

// Cluster is one running (or stopped) cluster of a fleet.
type Cluster struct {
	Name string
	Role Role

	dir        string
	servers    string
	env        *envtest.Environment
	ext        *utilsenvtest.EnvironmentExtensions // nil for the hub
	aggregated *apiserver.APIServer                // nil for the hub
	// aggregatedOpts makes a fresh helper per start: ironcore's helper keeps
	// its "exited" flag across restarts, so a reused one never stops again.
	aggregatedOpts *apiserver.Options
	admin          *rest.Config
	kubeconfig     []byte
	client         client.Client
	logs           []io.Closer

	controllerManager *exec.Cmd

	mu      sync.Mutex
	running bool
	// aggregatedRunning says whether the aggregated API server is up (as
	// far as Stop/Start/StopAggregated/StartAggregated know); always false
	// for the hub. StopAggregated clears it while kube-apiserver stays up.
	aggregatedRunning bool
}

// Config returns an admin rest.Config for the cluster (a copy).
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.admin) }

// Client returns an admin client using Scheme.
func (c *Cluster) Client() client.Client { return c.client }

// Kubeconfig returns a kubeconfig (user "fleet-admin", group system:masters)
// that an outside process such as the hub can use.
func (c *Cluster) Kubeconfig() []byte { return c.kubeconfig }

// KubeconfigPath is where Kubeconfig is written on disk.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.dir, "kubeconfig") }

// Host is the https URL of the cluster's kube-apiserver.
func (c *Cluster) Host() string { return strings.TrimSuffix(c.admin.Host, "/") }

// Address is the host:port of the cluster's kube-apiserver, e.g. the target
// of a DelayProxy.
func (c *Cluster) Address() string {
	if u, err := url.Parse(c.Host()); err == nil && u.Host != "" {
		return u.Host
	}
	return strings.TrimPrefix(c.Host(), "https://")
}

// KubeconfigVia returns kubeconfig (the cluster's own Kubeconfig when nil)
// with its server pointed at https://addr, typically a DelayProxy's Addr in
// front of this cluster; see the package function KubeconfigVia.
func (c *Cluster) KubeconfigVia(addr string, kubeconfig []byte) ([]byte, error) {
	if kubeconfig == nil {
		kubeconfig = c.kubeconfig
	}
	out, err := KubeconfigVia(kubeconfig, addr)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return out, nil
}

// ConfigVia returns an admin rest.Config (a copy of Config) that talks to the
// cluster through addr, typically a DelayProxy's Addr, still verifying the
// serving certificate for the original host (TLSClientConfig.ServerName).
func (c *Cluster) ConfigVia(addr string) *rest.Config {
	cfg := c.Config()
	if cfg.TLSClientConfig.ServerName == "" {
		if u, err := url.Parse(c.Host()); err == nil {
			cfg.TLSClientConfig.ServerName = u.Hostname()
		}
	}
	cfg.Host = "https://" + addr
	return cfg
}

// Dir is the cluster's work folder (certificates, etcd data, logs).
func (c *Cluster) Dir() string { return c.dir }

// Running reports whether the cluster's servers are up.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// AddUser provisions another client-certificate user and returns its
// kubeconfig.
func (c *Cluster) AddUser(name string, groups ...string) ([]byte, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: add user %s: %w", c.Name, name, err)
	}
	return u.KubeConfig()
}

func startCluster(ctx context.Context, fleetDir, servers string, spec Spec) (*Cluster, error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, "/ ") {
		return nil, fmt.Errorf("invalid cluster name %q", spec.Name)
	}
	c := &Cluster{Name: spec.Name, Role: spec.Role, dir: filepath.Join(fleetDir, spec.Name), servers: servers}
	for _, d := range []string{"apiserver", "etcd", "bin"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx, spec); err != nil {
		c.teardown()
		return nil, fmt.Errorf("start cluster %s (%s): %w (logs in %s)", spec.Name, spec.Role, err, c.dir)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, spec Spec) error {
	apiserverPath, err := launcher(c.dir, filepath.Join(c.servers, "kube-apiserver"))
	if err != nil {
		return err
	}
	etcdPath, err := launcher(c.dir, filepath.Join(c.servers, "etcd"))
	if err != nil {
		return err
	}
	apiLog, err := c.logFile("kube-apiserver.log")
	if err != nil {
		return err
	}
	etcdLog, err := c.logFile("etcd.log")
	if err != nil {
		return err
	}
	// Fixed folders make a restart keep its certificates and data.
	c.env = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{
				Path: apiserverPath, CertDir: filepath.Join(c.dir, "apiserver"), Out: apiLog, Err: apiLog,
			},
			Etcd: &envtest.Etcd{Path: etcdPath, DataDir: filepath.Join(c.dir, "etcd"), Out: etcdLog, Err: etcdLog},
		},
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
		ErrorIfCRDPathMissing:    true,
	}

	var aggregatedBinary, apiServiceModule string
	args := apiserver.EmptyProcessArgs()
	switch spec.Role {
	case RoleHub:
		dir, err := moduleDir(ctx, "sigs.k8s.io/cluster-inventory-api")
		if err != nil {
			return err
		}
		c.env.CRDDirectoryPaths = []string{filepath.Join(dir, "config", "crd", "bases")}
	case RoleIronCore:
		aggregatedBinary, apiServiceModule = "ironcore-apiserver", "github.com/ironcore-dev/ironcore"
	case RoleAPINet:
		aggregatedBinary, apiServiceModule = "apinet-apiserver", "github.com/ironcore-dev/ironcore-net"
		prefixes := spec.PublicPrefixes
		if len(prefixes) == 0 {
			prefixes = DefaultPublicPrefixes(0)
		}
		args.Set("public-prefix", prefixes...)
	default:
		return fmt.Errorf("unknown role %q", spec.Role)
	}

	if aggregatedBinary == "" {
		if c.admin, err = c.env.Start(); err != nil {
			return err
		}
	} else {
		dir, err := moduleDir(ctx, apiServiceModule)
		if err != nil {
			return err
		}
		c.ext = &utilsenvtest.EnvironmentExtensions{
			APIServiceDirectoryPaths:       []string{filepath.Join(dir, "config", "apiserver", "apiservice", "bases")},
			ErrorIfAPIServicePathIsMissing: true,
		}
		if c.admin, err = utilsenvtest.StartWithExtensions(c.env, c.ext); err != nil {
			return err
		}
		aggLog, err := c.logFile(aggregatedBinary + ".log")
		if err != nil {
			return err
		}
		bin := filepath.Join(c.servers, aggregatedBinary)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing: run hack/install-servers.sh (make servers): %w", bin, err)
		}
		opts := c.ext.APIServiceInstallOptions
		c.aggregatedOpts = &apiserver.Options{
			Command:       append(deathSignalPrefix(), bin),
			Args:          args,
			ETCDServers:   []string{c.env.ControlPlane.Etcd.URL.String()},
			Host:          opts.LocalServingHost,
			Port:          opts.LocalServingPort,
			CertDir:       opts.LocalServingCertDir,
			Stdout:        aggLog,
			Stderr:        aggLog,
			HealthTimeout: startTimeout,
			WaitTimeout:   stopTimeout,
		}
	}
	c.running = true // from here on, teardown must stop processes

	if c.client, err = client.New(c.admin, client.Options{Scheme: Scheme}); err != nil {
		return err
	}
	if err := c.startAggregated(); err != nil {
		return err
	}
	c.aggregatedRunning = c.aggregatedOpts != nil
	if c.kubeconfig, err = c.AddUser("fleet-admin", "system:masters"); err != nil {
		return err
	}
	if err := os.WriteFile(c.KubeconfigPath(), c.kubeconfig, 0o600); err != nil {
		return err
	}
	if spec.ControllerManager && spec.Role == RoleAPINet {
		return c.startControllerManager()
	}
	return nil
}

// startControllerManager runs the apinet controller-manager against this
// cluster, killed with the test process at the latest.
func (c *Cluster) startControllerManager() error {
	bin := filepath.Join(c.servers, "apinet-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: run hack/install-servers.sh apinet-controller-manager (make servers): %w", bin, err)
	}
	logFile, err := c.logFile("apinet-controller-manager.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "--kubeconfig="+c.KubeconfigPath(), "--health-probe-bind-address=0", "--metrics-bind-address=0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start apinet-controller-manager: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	c.controllerManager = cmd
	return nil
}

func (c *Cluster) startAggregated() error {
	if c.aggregatedOpts == nil {
		return nil
	}
	var err error
	if c.aggregated, err = apiserver.New(c.admin, *c.aggregatedOpts); err != nil {
		return err
	}
	if err := c.aggregated.Start(); err != nil {
		return fmt.Errorf("aggregated apiserver: %w", err)
	}
	if err := utilsenvtest.WaitUntilAPIServicesReadyWithTimeout(startTimeout, c.ext, c.admin, c.client, Scheme); err != nil {
		return err
	}
	// An APIService reports Available a moment before requests through the
	// aggregator stop answering 503: wait for a real request to succeed.
	var list client.ObjectList = &networkingv1alpha1.NetworkList{}
	if c.Role == RoleAPINet {
		list = &apinetv1alpha1.NetworkList{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return c.client.List(ctx, list) == nil, nil
	})
}

// AggregatedMetrics returns the Prometheus metrics of the cluster's
// aggregated API server (ironcore's or apinet's), read directly as the admin
// (the aggregator's own metrics do not count what it proxies).
func (c *Cluster) AggregatedMetrics(ctx context.Context) (string, error) {
	if c.aggregatedOpts == nil {
		return "", fmt.Errorf("cluster %s has no aggregated API server", c.Name)
	}
	cfg := rest.CopyConfig(c.admin)
	cfg.Host = fmt.Sprintf("https://%s:%d", c.aggregatedOpts.Host, c.aggregatedOpts.Port)
	// Its serving certificate is envtest's own, not the cluster's CA.
	cfg.CAData, cfg.CAFile, cfg.Insecure = nil, "", true
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s/metrics: %s: %s", cfg.Host, resp.Status, body)
	}
	return string(body), nil
}

// Stop takes the cluster's API servers down abruptly (SIGKILL), as a crash
// or a cut network would: clients see connection refused at once, and no
// graceful shutdown waits for their watches to drain. etcd keeps running
// with the data; Start brings the same cluster back on the same address.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	c.running = false
	c.aggregatedRunning = false // killed with the others below, if it was up
	if err := killChildren(c.servers, c.isAPIServer); err != nil {
		return fmt.Errorf("stop cluster %s: %w", c.Name, err)
	}
	return nil
}

// isAPIServer tells this cluster's API servers by their arguments: every one
// of them, and nothing else, talks to this cluster's etcd.
func (c *Cluster) isAPIServer(args []string) bool {
	return slices.Contains(args, "--etcd-servers="+c.env.ControlPlane.Etcd.URL.String())
}

// pids lists the running processes of this cluster (API servers, etcd and
// the controller-manager).
func (c *Cluster) pids() []int {
	etcdDir := "--data-dir=" + filepath.Join(c.dir, "etcd")
	kubeconfig := "--kubeconfig=" + c.KubeconfigPath()
	pids, _ := childPIDs(c.servers, func(args []string) bool {
		return c.isAPIServer(args) || slices.Contains(args, etcdDir) || slices.Contains(args, kubeconfig)
	})
	return pids
}

// Start brings a stopped cluster back on the same address.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	c.running = true
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("restart cluster %s: kube-apiserver: %w", c.Name, err)
	}
	if err := c.startAggregated(); err != nil {
		return fmt.Errorf("restart cluster %s: %w", c.Name, err)
	}
	c.aggregatedRunning = c.aggregatedOpts != nil
	return nil
}

// AggregatedRunning reports whether the cluster's aggregated API server
// (ironcore-apiserver or apinet-apiserver) is up. Always false for the hub.
func (c *Cluster) AggregatedRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aggregatedRunning
}

// aggregatedBinary is the base name of the cluster's aggregated API server
// binary, "" for the hub.
func (c *Cluster) aggregatedBinary() string {
	switch c.Role {
	case RoleIronCore:
		return "ironcore-apiserver"
	case RoleAPINet:
		return "apinet-apiserver"
	}
	return ""
}

// isAggregatedAPIServer tells this cluster's aggregated API server by its
// arguments: it talks to this cluster's etcd (isAPIServer) and runs the
// aggregated binary (argv[0], or an argument where a wrapper that does not
// exec keeps the binary path). kube-apiserver shares the etcd flag but
// never the binary.
func (c *Cluster) isAggregatedAPIServer(args []string) bool {
	name := c.aggregatedBinary()
	if name == "" || len(args) == 0 || !c.isAPIServer(args) {
		return false
	}
	if filepath.Base(args[0]) == name {
		return true
	}
	return slices.Contains(args, filepath.Join(c.servers, name))
}

// StopAggregated SIGKILLs only the cluster's aggregated API server
// (ironcore-apiserver of an IronCore member, apinet-apiserver of an apinet
// peer) and leaves kube-apiserver and etcd running. That is the outage a
// plain Stop does not show: the kube-apiserver's /readyz and /healthz still
// answer ok and discovery of the built-in groups works, but every request to
// the aggregated group fails (503 from the aggregator, and the APIService
// turns Available=False after a while). The hub must notice such a member
// from the API group itself, not from the control plane's health endpoints.
// StartAggregated (or a full Stop and Start) brings it back.
//
// It is an error for the hub (it has no aggregated server) and for a
// stopped cluster; stopping an already stopped aggregated server is a no-op.
func (c *Cluster) StopAggregated() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.canToggleAggregated("stop"); err != nil {
		return err
	}
	if !c.aggregatedRunning {
		return nil
	}
	c.aggregatedRunning = false
	if err := killChildren(c.servers, c.isAggregatedAPIServer); err != nil {
		return fmt.Errorf("stop aggregated API server of cluster %s: %w", c.Name, err)
	}
	c.releaseAggregated()
	return nil
}

// canToggleAggregated: only a running cluster with an aggregated API server
// (not the hub) has one to stop or start alone. Caller holds c.mu.
func (c *Cluster) canToggleAggregated(verb string) error {
	if c.aggregatedOpts == nil {
		return fmt.Errorf("cluster %s (%s) has no aggregated API server", c.Name, c.Role)
	}
	if !c.running {
		return fmt.Errorf("%s aggregated API server of cluster %s: the cluster is stopped (Start brings everything back)", verb, c.Name)
	}
	return nil
}

// releaseAggregated waits until the helper of a killed aggregated server has
// seen its process exit, then lets it remove its temporary folder (Stop of
// an exited helper signals nothing). startAggregated makes a fresh helper.
func (c *Cluster) releaseAggregated() {
	if c.aggregated == nil {
		return
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		if exited, _ := c.aggregated.Exited(); exited || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = c.aggregated.Stop()
}

// StartAggregated brings back the aggregated API server that StopAggregated
// killed, on the same address, and returns once requests through the
// aggregator succeed again. It is a no-op when the server is up, and an error
// for the hub and for a stopped cluster (Start brings everything back). A
// server that fails to come up is killed again, so StartAggregated may be
// retried.
func (c *Cluster) StartAggregated() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.canToggleAggregated("start"); err != nil {
		return err
	}
	if c.aggregatedRunning {
		return nil
	}
	if err := c.startAggregated(); err != nil {
		_ = killChildren(c.servers, c.isAggregatedAPIServer)
		c.releaseAggregated()
		return fmt.Errorf("start aggregated API server of cluster %s: %w", c.Name, err)
	}
	c.aggregatedRunning = true
	return nil
}

// teardown stops every process and releases temporary folders.
func (c *Cluster) teardown() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if c.controllerManager != nil {
		_ = c.controllerManager.Process.Kill()
		c.controllerManager = nil
	}
	if c.aggregated != nil {
		errs = append(errs, c.aggregated.Stop())
	}
	if c.env != nil {
		if c.ext != nil {
			errs = append(errs, utilsenvtest.StopWithExtensions(c.env, c.ext))
		} else {
			errs = append(errs, c.env.Stop())
		}
	}
	c.running = false
	for _, l := range c.logs {
		_ = l.Close()
	}
	c.logs = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down cluster %s: %w", c.Name, err)
	}
	return nil
}

func (c *Cluster) logFile(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	c.logs = append(c.logs, f)
	return f, nil
}
