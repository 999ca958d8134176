package fleet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var hubBuild struct {
	once sync.Once
	path string
	err  error
}

// BuildHub builds the apinet-hub binary of this repository once per test
// process, into a private temporary folder (go test runs packages in
// parallel; a shared output path would race), and returns its path.
// $APINET_HUB_BINARY, when set, is used instead.
func BuildHub(ctx context.Context) (string, error) {
	if p := os.Getenv("APINET_HUB_BINARY"); p != "" {
		return p, nil
	}
	hubBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "apinet-hub-bin-")
		if err != nil {
			hubBuild.err = err
			return
		}
		out := filepath.Join(dir, "apinet-hub")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/apinet-hub")
		cmd.Dir = repoRoot()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			hubBuild.err = fmt.Errorf("go build ./cmd/apinet-hub: %v: %s", err, stderr.String())
			return
		}
		hubBuild.path = out
	})
	return hubBuild.path, hubBuild.err
}

// HubOptions configures StartHub.
type HubOptions struct {
	// Binary is the apinet-hub binary (BuildHub).
	Binary string
	// Kubeconfig of the hub cluster.
	Kubeconfig string
	// Namespace is the hub namespace of the fleet's profiles ("fleet").
	Namespace string
	// Args are further `apinet-hub run` flags.
	Args []string
	// Log receives stdout and stderr (appended; several runs may share it).
	Log string
	// Env is added to the process environment.
	Env []string
}

// Controller is a running controller process (`apinet-hub run` or
// apinetlet). Its metrics and health endpoints listen on free loopback ports.
type Controller struct {
	*process
	MetricsAddr string
	ProbeAddr   string
}

// process is a started child process of a test: it waits for the process
// in the background and can stop or kill it.
type process struct {
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
}

// watch waits for a started cmd in the background.
func watch(cmd *exec.Cmd) *process {
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.exitErr = cmd.Wait(); close(p.done) }()
	return p
}

// StartHub starts `apinet-hub run` as a child process that dies with the
// test process. Its metrics are served over plain HTTP (--metrics-secure=false
// comes before Args, which may turn it on again), so that Scrape and
// Prometheus read them without a token; cmd/apinet-hub tests the secure
// default.
func StartHub(opts HubOptions) (*Controller, error) {
	args := []string{"run", "--kubeconfig", opts.Kubeconfig, "--metrics-secure=false"}
	if opts.Namespace != "" {
		args = append(args, "--namespace", opts.Namespace)
	}
	return startController(opts.Binary, append(args, opts.Args...), opts.Log, opts.Env)
}

// startController starts binary with args plus free metrics and health
// addresses (--metrics-bind-address, --health-probe-bind-address), output
// appended to log.
func startController(binary string, args []string, logPath string, env []string) (*Controller, error) {
	metrics, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	probe, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	log := io.Discard
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		log = f
	}
	args = append(args, "--metrics-bind-address", metrics, "--health-probe-bind-address", probe)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	return &Controller{process: watch(cmd), MetricsAddr: metrics, ProbeAddr: probe}, nil
}

// PID of the process.
func (h *process) PID() int { return h.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (h *process) Exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Kill SIGKILLs the process (a crash) and waits for it to be gone.
func (h *process) Kill() error {
	if h.Exited() {
		return nil
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	return nil
}

// Stop asks the process to shut down (SIGTERM) and waits up to timeout,
// then kills it. It returns the exit error of a process that did not exit
// cleanly.
func (h *process) Stop(timeout time.Duration) error {
	if h.Exited() {
		return h.exitErr
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		return h.exitErr
	case <-time.After(timeout):
		_ = h.Kill()
		return fmt.Errorf("%s did not stop within %s after SIGTERM", h.cmd.Path, timeout)
	}
}

// Scrape returns the /metrics text.
func (h *Controller) Scrape(ctx context.Context) (string, error) {
	return HTTPGet(ctx, "http://"+h.MetricsAddr+"/metrics")
}

// Ready reports whether /readyz answers ok.
func (h *Controller) Ready(ctx context.Context) bool {
	body, err := HTTPGet(ctx, "http://"+h.ProbeAddr+"/readyz")
	return err == nil && body == "ok"
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// HTTPGet returns the trimmed body of a 200 answer, or an error.
func HTTPGet(ctx context.Context, url string) (string, error) {
	return HTTPSGet(ctx, url, "")
}

// insecureClient trusts any server certificate (the hub's self-signed one).
var insecureClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test servers

// HTTPSGet is HTTPGet with a bearer token (none if empty), trusting any
// server certificate for https URLs. A non-200 answer is an error that
// names the status code.
func HTTPSGet(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecureClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.Join(err, fmt.Errorf("GET %s: %s", url, resp.Status))
	}
	return strings.TrimSpace(string(body)), err
}

// APINetletOptions configures StartAPINetlet.
type APINetletOptions struct {
	// ServersDir holds the apinetlet binary (hack/install-servers.sh apinetlet).
	// Default: DefaultServersDir().
	ServersDir string
	// Member is the IronCore cluster, Peer the apinet cluster.
	Member, Peer *Cluster
	// APINetNamespace is apinetlet's --api-net-namespace (created if missing).
	APINetNamespace string
	// Args are further apinetlet flags.
	Args []string
	// Log receives stdout and stderr (appended).
	Log string
}

// StartAPINetlet runs the real apinetlet (ironcore-net v0.2.4) for one
// member, as a child process that dies with the test process.
func StartAPINetlet(ctx context.Context, opts APINetletOptions) (*Controller, error) {
	servers := opts.ServersDir
	if servers == "" {
		servers = DefaultServersDir()
	}
	binary := filepath.Join(servers, "apinetlet")
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("%s is missing: run hack/install-servers.sh apinetlet: %w", binary, err)
	}
	if err := ensureNamespace(ctx, opts.Peer, opts.APINetNamespace); err != nil {
		return nil, err
	}
	args := append([]string{"--kubeconfig", opts.Member.KubeconfigPath(),
		"--api-net-kubeconfig", opts.Peer.KubeconfigPath(), "--api-net-namespace", opts.APINetNamespace, "--metrics-secure=false"}, opts.Args...)
	return startController(binary, args, opts.Log, nil)
}

// ensureNamespace creates namespace name in c unless it exists.
func ensureNamespace(ctx context.Context, c *Cluster, name string) error {
	err := c.Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s in %s: %w", name, c.Name, err)
	}
	return nil
}

// ShardFences returns the members' fences that sharded hub replicas hold
// in namespace (the coordinator's Leases apinet-hub-shard-*, held and not
// expired), by Lease name: the holding replica's shard ID.
func ShardFences(ctx context.Context, c client.Client, namespace string) (map[string]string, error) {
	leases := &coordinationv1.LeaseList{}
	if err := c.List(ctx, leases, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range leases.Items {
		s := l.Spec
		if !strings.HasPrefix(l.Name, "apinet-hub-shard-") || s.HolderIdentity == nil || *s.HolderIdentity == "" ||
			s.RenewTime == nil || s.LeaseDurationSeconds == nil ||
			time.Since(s.RenewTime.Time) > time.Duration(*s.LeaseDurationSeconds)*time.Second {
			continue
		}
		out[l.Name] = *s.HolderIdentity
	}
	return out, nil
}
