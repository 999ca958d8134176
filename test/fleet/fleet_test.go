package fleet_test

import (
	"fmt"
	"net/netip"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

var _ = Describe("A local fleet", func() {
	It("has a hub, two IronCore members and one apinet peer, each on its own loopback address", func() {
		Expect(testFleet.Hub()).NotTo(BeNil())
		Expect(testFleet.ByRole(fleet.RoleIronCore)).To(HaveLen(2))
		Expect(testFleet.ByRole(fleet.RoleAPINet)).To(HaveLen(1))
		hosts := map[string]bool{}
		for _, c := range testFleet.Clusters() {
			Expect(c.Host()).To(HavePrefix("https://127.0.0.1:"))
			hosts[c.Host()] = true

			By("giving " + c.Name + " a kubeconfig an outside process can use")
			cfg, err := clientcmd.RESTConfigFromKubeConfig(c.Kubeconfig())
			Expect(err).NotTo(HaveOccurred())
			Expect(cfg.Host).To(Equal(c.Host()))
			fromFile, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
			Expect(err).NotTo(HaveOccurred())
			cl, err := client.New(fromFile, client.Options{Scheme: fleet.Scheme})
			Expect(err).NotTo(HaveOccurred())
			Expect(cl.Get(bg(), client.ObjectKey{Name: "default"}, &corev1.Namespace{})).To(Succeed())
		}
		Expect(hosts).To(HaveLen(4))

		procs, err := fleet.ServerProcesses(testFleet.ServersDir())
		Expect(err).NotTo(HaveOccurred())
		var rss, peak int64
		for _, p := range procs {
			rss += p.RSSBytes
			peak += p.PeakRSSBytes
		}
		// hub: kube-apiserver+etcd; 3 members: + one aggregated apiserver each.
		Expect(procs).To(HaveLen(4*2 + 3))
		AddReportEntry("fleet RSS (MiB)", fmt.Sprintf("now %d, sum of per-process peaks %d", rss>>20, peak>>20))
	})

	It("keeps each IronCore member's networking objects in that member only", func() {
		members := testFleet.ByRole(fleet.RoleIronCore)
		for _, m := range members {
			Expect(m.Client().Create(bg(), &networkingv1alpha1.Network{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "net-of-" + m.Name},
			})).To(Succeed())
		}
		for _, m := range members {
			list := &networkingv1alpha1.NetworkList{}
			Expect(m.Client().List(bg(), list, client.InNamespace("default"))).To(Succeed())
			Expect(list.Items).To(ConsistOf(HaveField("Name", "net-of-"+m.Name)))
		}
	})

	It("lets the apinet server allocate a VNI and a public IP", func() {
		peer := testFleet.ByRole(fleet.RoleAPINet)[0].Client()
		network := &apinetv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "vni"}}
		Expect(peer.Create(bg(), network)).To(Succeed())
		Expect(network.Spec.ID).NotTo(BeEmpty(), "the server allocates spec.id at create")

		ip := &apinetv1alpha1.IP{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "public"},
			Spec:       apinetv1alpha1.IPSpec{Type: apinetv1alpha1.IPTypePublic, IPFamily: corev1.IPv4Protocol},
		}
		Expect(peer.Create(bg(), ip)).To(Succeed())
		Expect(ip.Spec.IP.IsValid()).To(BeTrue(), "the server allocates spec.ip at create")
		Expect(netip.MustParsePrefix(fleet.DefaultPublicPrefixes(1)[0]).Contains(ip.Spec.IP.Addr)).To(BeTrue())
	})

	It("serves ClusterProfiles on the hub", func() {
		hub := testFleet.Hub().Client()
		profile := &clusterinventoryv1alpha1.ClusterProfile{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ironcore-1"},
			Spec: clusterinventoryv1alpha1.ClusterProfileSpec{
				ClusterManager: clusterinventoryv1alpha1.ClusterManager{Name: "fleet-test"},
			},
		}
		Expect(hub.Create(bg(), profile)).To(Succeed())
		Expect(hub.Get(bg(), client.ObjectKeyFromObject(profile), profile)).To(Succeed())
		Expect(profile.Spec.ClusterManager.Name).To(Equal("fleet-test"))
	})

	It("brings a stopped member back on the same address with its data", func() {
		member := testFleet.Cluster("ironcore-2")
		host := member.Host()
		network := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "survivor"}}
		Expect(member.Client().Create(bg(), network)).To(Succeed())

		Expect(member.Stop()).To(Succeed())
		Expect(member.Running()).To(BeFalse())
		Expect(member.Client().Get(bg(), client.ObjectKeyFromObject(network), &networkingv1alpha1.Network{})).NotTo(Succeed())
		Expect(testFleet.Cluster("ironcore-1").Client().List(bg(), &networkingv1alpha1.NetworkList{})).To(Succeed(),
			"the other member is not affected")

		Expect(member.Start()).To(Succeed())
		Expect(member.Host()).To(Equal(host))
		back := &networkingv1alpha1.Network{}
		Eventually(func() error {
			return member.Client().Get(bg(), client.ObjectKeyFromObject(network), back)
		}).Should(Succeed())
		Expect(back.UID).To(Equal(network.UID))

		cfg, err := clientcmd.RESTConfigFromKubeConfig(member.Kubeconfig())
		Expect(err).NotTo(HaveOccurred())
		cl, err := client.New(cfg, client.Options{Scheme: fleet.Scheme})
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.Get(bg(), client.ObjectKeyFromObject(network), back)).To(Succeed(), "the old kubeconfig still works")
	})
})
