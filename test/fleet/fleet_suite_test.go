package fleet_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestFleet(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fleet harness")
}

var testFleet *fleet.Fleet

var _ = BeforeSuite(func(ctx SpecContext) {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	start := time.Now()
	var err error
	testFleet, err = fleet.Start(ctx, fleet.Options{Clusters: fleet.Specs(2, 1)})
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("fleet start (hub + 2 IronCore + 1 apinet)", time.Since(start).Round(time.Millisecond).String())

	DeferCleanup(func() {
		servers := testFleet.ServersDir()
		Expect(testFleet.Stop()).To(Succeed())
		Expect(fleet.ServerProcesses(servers)).To(BeEmpty(), "every server process is gone after Stop")
	})
}, NodeTimeout(5*time.Minute))

func bg() context.Context { return context.Background() }
