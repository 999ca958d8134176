package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End to end: take-over and faults")
}

const (
	// profileNamespace holds the fleet's ClusterProfiles on the hub.
	profileNamespace = "fleet"
	// workloadNamespace holds the workload's IronCore objects in each member.
	workloadNamespace = "default"
	// convergeTimeout bounds how long the hub may take to reach every
	// invariant again after a case (2 cores, several control planes).
	convergeTimeout = 90 * time.Second
)

// hubArgs make the hub notice outages and recover within seconds instead
// of the production defaults' tens of seconds; the logic is the same.
var hubArgs = []string{"--probe-interval=1s", "--probe-failure-threshold=3", "--retry-interval=2s",
	"--request-timeout=5s", "--engage-timeout=60s"}

var (
	testFleet *fleet.Fleet
	// peer is the fleet's apinet peer; faultMembers are the IronCore members
	// the fault cases load; the take-over brings its own member.
	peer         *fleet.Cluster
	faultMembers []member
	hub          *hubRunner
	// invariants watches faultMembers for the whole suite, so a recreated
	// apinet object is caught whichever case recreated it.
	invariants *checker
	// logDir keeps the hub's and apinetlet's logs; it is removed only when
	// every spec passed ($E2E_LOG_DIR is always kept).
	logDir     string
	suiteFault bool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)

	logDir = os.Getenv("E2E_LOG_DIR")
	keepLogs := logDir != ""
	if !keepLogs {
		var err error
		logDir, err = os.MkdirTemp("", "apinet-hub-e2e-")
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(os.MkdirAll(logDir, 0o700)).To(Succeed())
	GinkgoWriter.Printf("logs of the hub and apinetlet: %s\n", logDir)

	start := time.Now()
	binary, err := fleet.BuildHub(ctx)
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("build apinet-hub", time.Since(start).Round(time.Millisecond).String())

	start = time.Now()
	// ironcore-1 and -2 are under load in the fault cases, ironcore-3 is
	// taken over from apinetlet, ironcore-4 is damaged to test the checker.
	testFleet, err = fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(4, 1)})
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("fleet start (hub + 4 IronCore + 1 apinet)", time.Since(start).Round(time.Millisecond).String())
	DeferCleanup(func() {
		if hub != nil {
			Expect(hub.stop()).To(Succeed())
		}
		Expect(testFleet.Stop()).To(Succeed())
		if !keepLogs && !suiteFault {
			_ = os.RemoveAll(logDir)
		}
	})

	peer = testFleet.Cluster("apinet-1")
	for _, name := range []string{"ironcore-1", "ironcore-2"} {
		faultMembers = append(faultMembers, member{
			cluster: testFleet.Cluster(name), peer: peer,
			apinetNamespace: clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: profileNamespace, Name: name}),
		})
	}
	Expect(testFleet.Hub().Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: profileNamespace}})).To(Succeed())
	onboardAll(ctx)

	hub = &hubRunner{binary: binary, kubeconfig: testFleet.Hub().KubeconfigPath(), log: filepath.Join(logDir, "apinet-hub.log"), args: hubArgs}
	Expect(hub.start()).To(Succeed())
	for _, m := range faultMembers {
		Eventually(func() string { return engagedReason(ctx, m.name()) }).Should(Equal(clusterprofiles.ReasonEngaged), "%s engaged", m.name())
	}
	invariants = newChecker(faultMembers...)
}, NodeTimeout(10*time.Minute))

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFault = true
	}
})

// onboardAll (re)creates the profiles and credential Secrets of the peer and
// the fault members, with least-privilege credentials (hubKubeconfig).
func onboardAll(ctx context.Context) {
	GinkgoHelper()
	hubClient := testFleet.Hub().Client()
	Expect(fleet.Onboard(ctx, hubClient, profileNamespace, peer.Name, fleet.APINetLabels, nil, hubKubeconfig(ctx, peer))).To(Succeed())
	for _, m := range faultMembers {
		Expect(m.onboard(ctx, hubKubeconfig(ctx, m.cluster))).To(Succeed())
	}
}

// hubKubeconfig is what the suite hands the hub for a cluster: a token of a
// ServiceAccount bound to exactly the hub's ClusterRole for the cluster's
// role, as `apinet-hub onboard --create-service-account` sets up; never the
// cluster's admin credentials.
func hubKubeconfig(ctx context.Context, c *fleet.Cluster) []byte {
	GinkgoHelper()
	kc, err := c.HubKubeconfig(ctx)
	Expect(err).NotTo(HaveOccurred())
	return kc
}

// member is an onboarded IronCore member as the tests see it.
type member struct {
	cluster, peer *fleet.Cluster
	// apinetNamespace is the member's namespace in its peer.
	apinetNamespace string
}

func (m member) name() string { return m.cluster.Name }

// label is the value of the hub's cluster label on the member's apinet
// objects.
func (m member) label() string {
	return clusterprofiles.LabelValue(clusterprofiles.ClusterName(types.NamespacedName{Namespace: profileNamespace, Name: m.name()}))
}

// onboard creates or updates the member's profile and credential Secret; a
// namespace other than the default one is apinetlet's (the take-over case):
// it goes into the profile's annotation, with the explicit take-over the hub
// needs to adopt a namespace that holds objects it did not write.
func (m member) onboard(ctx context.Context, kubeconfig []byte) error {
	var annotations map[string]string
	if m.apinetNamespace != clusterprofiles.DefaultAPINetNamespace(types.NamespacedName{Namespace: profileNamespace, Name: m.name()}) {
		annotations = map[string]string{clusterprofiles.AnnotationAPINetNamespace: m.apinetNamespace, clusterprofiles.AnnotationTakeOver: "true"}
	}
	return fleet.Onboard(ctx, testFleet.Hub().Client(), profileNamespace, m.name(), fleet.IronCoreLabels(m.peer.Name), annotations, kubeconfig)
}

// engagedReason is the reason of the hub's Engaged condition on a profile
// ("" while there is none).
func engagedReason(ctx context.Context, name string) string {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := testFleet.Hub().Client().Get(ctx, types.NamespacedName{Namespace: profileNamespace, Name: name}, cp); err != nil {
		return ""
	}
	if c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged); c != nil {
		return c.Reason
	}
	return ""
}

// hubRunner runs `apinet-hub run` against the fleet's hub cluster as a child
// process and restarts it on demand. Every run appends to one log file.
type hubRunner struct {
	binary, kubeconfig, log string
	args                    []string

	mu     sync.Mutex
	proc   *fleet.Controller
	starts int
}

// start runs the hub unless it is running.
func (h *hubRunner) start() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil && !h.proc.Exited() {
		return nil
	}
	h.starts++
	f, err := os.OpenFile(h.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, _ = fmt.Fprintf(f, "\n==== start %d at %s\n", h.starts, time.Now().Format(time.RFC3339Nano))
		_ = f.Close()
	}
	h.proc, err = fleet.StartHub(fleet.HubOptions{Binary: h.binary, Kubeconfig: h.kubeconfig, Namespace: profileNamespace, Args: h.args, Log: h.log})
	return err
}

// kill SIGKILLs the hub, as a crash or an evicted pod would end it.
func (h *hubRunner) kill() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil {
		return nil
	}
	return h.proc.Kill()
}

// stop shuts the hub down gracefully (SIGTERM); it must exit cleanly. A hub
// that gets SIGTERM before it has installed its signal handler dies of the
// signal, which is a clean stop too.
func (h *hubRunner) stop() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil || h.proc.Exited() {
		return nil
	}
	err := h.proc.Stop(30 * time.Second)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return err
}

// pid is the running hub's process id (0 when none runs).
func (h *hubRunner) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil || h.proc.Exited() {
		return 0
	}
	return h.proc.PID()
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
