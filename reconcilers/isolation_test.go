package reconcilers_test

import (
	"context"
	"fmt"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A failing object costs only itself (reconcilers/fairqueue): its backoff
// holds none of its member's share of the controller's queue, so the
// member's other objects of the same kind are mapped at once.
var _ = Describe("Isolation", func() {
	It("maps a fresh NATGateway at once beside one the peer refuses on every attempt", func(ctx SpecContext) {
		ns := newNamespace(ctx, "ironcore-1")
		nw := createNetwork(ctx, "ironcore-1", ns, "net")
		expectAvailable(ctx, "ironcore-1", nw)
		apinetKey := func(gw client.Object) types.NamespacedName {
			return types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: string(gw.GetUID())}
		}

		By("breaking a mapped NATGateway: an admission policy in the peer refuses every write to its apinet NATGateway, then a change of its ports makes the hub write")
		broken := createNATGateway(ctx, ns, "broken", "net", nil)
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(ic("ironcore-1").Delete(ctx, broken))).To(Succeed())
		})
		Eventually(func() error { return peer().Get(ctx, apinetKey(broken), &apinetv1alpha1.NATGateway{}) }).Should(Succeed())
		refuseWrites(ctx, "natgateways", apinetKey(broken).Name)
		errorCount := gathered("apinet_hub_reconcile_total", map[string]string{"controller": "natgateway", "member": "fleet.ironcore-1", "result": "error"})
		before := errorCount()
		Eventually(func() error {
			if err := ic("ironcore-1").Get(ctx, client.ObjectKeyFromObject(broken), broken); err != nil {
				return err
			}
			broken.Spec.PortsPerNetworkInterface = ptr.To[int32](1024)
			return ic("ironcore-1").Update(ctx, broken)
		}).Should(Succeed())

		// The controller-runtime rate limiter doubles from 5 ms: after the
		// 11th failure the broken object waits 5 s. The fresh one is created
		// right after that failure, so that a backoff counted against the
		// member's share would hold it about as long.
		const failures = 11
		By(fmt.Sprintf("waiting for %d failed reconciles of the broken NATGateway", failures))
		Eventually(func() float64 { return errorCount() - before }, "60s", "5ms").Should(BeNumerically(">=", failures))
		failed := errorCount() - before
		fresh := createNATGateway(ctx, ns, "fresh", "net", nil)
		created := time.Now()

		Eventually(func() error { return peer().Get(ctx, apinetKey(fresh), &apinetv1alpha1.NATGateway{}) }, "30s", "10ms").Should(Succeed())
		took := time.Since(created)
		AddReportEntry("fresh NATGateway mapped beside a failing one", took.String())
		fmt.Fprintf(GinkgoWriter, "fresh NATGateway mapped in %v beside one that had failed %.0f times\n", took, failed)
		Expect(took).To(BeNumerically("<", 2*time.Second), "the broken NATGateway's backoff holds the member's share of the queue")

		By("the broken one still waits in the member's queue (fair queueing is on), and is still not mapped")
		Expect(gathered("apinet_hub_queue_depth", map[string]string{"controller": "natgateway", "member": "fleet.ironcore-1"})()).To(BeNumerically(">=", 1))
		an := &apinetv1alpha1.NATGateway{}
		Expect(peer().Get(ctx, apinetKey(broken), an)).To(Succeed())
		Expect(an.Spec.PortsPerNetworkInterface).To(Equal(int32(2048)))
		Expect(errorCount() - before).To(BeNumerically(">=", failed))
	})
})

// refuseWrites makes the peer refuse every create and update of the apinet
// object of that resource (core.apinet.ironcore.dev) and name, by a
// ValidatingAdmissionPolicy (the apinet API server runs the admission
// plugin, as any generic API server does), until the spec ends. It returns
// once the peer refuses a dry-run write.
func refuseWrites(ctx context.Context, resource, name string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-" + name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{
						APIGroups: []string{apinetv1alpha1.SchemeGroupVersion.Group}, APIVersions: []string{"*"}, Resources: []string{resource},
					},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("object.metadata.name != %q", name),
				Message:    "refused by the test's admission policy",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	Expect(peer().Create(ctx, policy)).To(Succeed())
	Expect(peer().Create(ctx, binding)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(peer().Delete(ctx, binding))).To(Succeed())
		Expect(client.IgnoreNotFound(peer().Delete(ctx, policy))).To(Succeed())
	})
	Eventually(func() error {
		an := &apinetv1alpha1.NATGateway{}
		if err := peer().Get(ctx, types.NamespacedName{Namespace: apinetNamespace("ironcore-1"), Name: name}, an); err != nil {
			return err
		}
		an.Labels["refuse-writes-probe"] = "x"
		return peer().Update(ctx, an, client.DryRunAll)
	}).Should(MatchError(ContainSubstring("refused by the test's admission policy")), "the peer enforces the policy")
}
