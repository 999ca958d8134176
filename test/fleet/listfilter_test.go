package fleet_test

import (
	"context"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

var _ = Describe("A list filter", func() {
	It("hides an object from LIST and WATCH answers, and from an informer's cache, while a GET still finds it", func(ctx SpecContext) {
		member := testFleet.Cluster("ironcore-2")
		admin := member.Client()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "listfilter-"}}
		Expect(admin.Create(ctx, ns)).To(Succeed())
		network := func(name string) *networkingv1alpha1.Network {
			return &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}}
		}
		Expect(admin.Create(ctx, network("shown"))).To(Succeed())
		Expect(admin.Create(ctx, network("hidden"))).To(Succeed())

		filter, err := fleet.StartListFilter(member, "networks")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(filter.Close)
		filter.Hide(ns.Name, "hidden")
		kubeconfig, err := member.HubKubeconfig(ctx)
		Expect(err).NotTo(HaveOccurred())
		via, err := filter.KubeconfigVia(kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		cfg, err := clientcmd.RESTConfigFromKubeConfig(via)
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Host).To(Equal(filter.URL()))
		direct, err := client.New(cfg, client.Options{Scheme: fleet.Scheme})
		Expect(err).NotTo(HaveOccurred())

		By("a LIST through the filter lacks the hidden object, in its namespace and across all")
		names := func(list *networkingv1alpha1.NetworkList) []string {
			var out []string
			for _, n := range list.Items {
				if n.Namespace == ns.Name {
					out = append(out, n.Name)
				}
			}
			return out
		}
		list := &networkingv1alpha1.NetworkList{}
		Expect(direct.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
		Expect(names(list)).To(ConsistOf("shown"))
		Expect(direct.List(ctx, list)).To(Succeed())
		Expect(names(list)).To(ConsistOf("shown"))

		By("a GET through the filter finds it")
		Expect(direct.Get(ctx, client.ObjectKeyFromObject(network("hidden")), network("hidden"))).To(Succeed())

		By("an informer's cache behind the filter lacks it, also after it changes (WATCH), and sees everything else")
		c, err := cache.New(cfg, cache.Options{Scheme: fleet.Scheme})
		Expect(err).NotTo(HaveOccurred())
		cacheCtx, stop := context.WithCancel(context.Background())
		DeferCleanup(stop)
		go func() { _ = c.Start(cacheCtx) }()
		// The first List starts the informer and waits for its sync.
		Eventually(func() error { return c.List(ctx, list, client.InNamespace(ns.Name)) }).Should(Succeed())
		Expect(names(list)).To(ConsistOf("shown"))
		Expect(admin.Create(ctx, network("new"))).To(Succeed())
		hidden := network("hidden")
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(hidden), hidden)).To(Succeed())
		hidden.Labels = map[string]string{"changed": "true"}
		Expect(admin.Update(ctx, hidden)).To(Succeed())
		Eventually(func() []string {
			Expect(c.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
			return names(list)
		}).Should(ConsistOf("shown", "new"))
		Consistently(func() []string {
			Expect(c.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
			return names(list)
		}, "1s").Should(ConsistOf("shown", "new"))
		Expect(c.Get(ctx, client.ObjectKeyFromObject(hidden), network("hidden"))).NotTo(Succeed())

		By("showing everything again: a fresh LIST has it")
		filter.ShowAll()
		Expect(direct.List(ctx, list, client.InNamespace(ns.Name))).To(Succeed())
		Expect(names(list)).To(ConsistOf("shown", "hidden", "new"))
	})
})
