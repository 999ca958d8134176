package chart

import (
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// hubNamespace is the release namespace of every rendering.
const hubNamespace = "apinet-hub"

// imageDigest is a well-formed image.digest.
const imageDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// everyFeature switches on every optional part of the chart: the
// ServiceMonitor (in another namespace, with relabelings), the
// PrometheusRule, the NetworkPolicy, a metrics certificate and a bound
// metrics reader, an access-provider file, watching all namespaces,
// sharding, an image by digest, spread constraints, and the extra
// arguments, env and volumes.
var everyFeature = map[string]any{
	"fleetNamespaces": []string{},
	"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]string{"release": "prometheus"},
		"namespace": "monitoring", "relabelings": []any{map[string]any{"action": "labeldrop", "regex": "pod"}},
		"metricRelabelings": []any{map[string]any{"action": "drop", "sourceLabels": []string{"__name__"}, "regex": "go_gc_.*"}}},
	"metrics": map[string]any{"certSecret": "hub-metrics-tls", "readerSubjects": []any{prometheusSubject}},
	"prometheusRule": map[string]any{"enabled": true, "labels": map[string]string{"release": "prometheus"},
		"namespace": "monitoring", "jobSelector": `job="hub-apinet-hub-metrics", namespace="apinet-hub"`},
	"networkPolicy": map[string]any{"enabled": true, "metricsFrom": []any{monitoringNamespace},
		"egress": []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}}}}},
	"accessProviders": []any{map[string]any{
		"name": "token-plugin",
		"execConfig": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1", "command": "/plugins/token", "args": []string{"get"},
			"env": []any{map[string]string{"name": "MODE", "value": "hub"}}, "provideClusterInfo": true,
		},
		"profileSourcedCLIArgsPolicy": "Append",
	}},
	"config":            map[string]any{"watchFilter": "blue", "logLevel": 2},
	"extraArgs":         []string{"--engage-workers=8"},
	"extraEnv":          []any{map[string]string{"name": "TZ", "value": "UTC"}},
	"extraVolumes":      []any{map[string]any{"name": "plugins", "emptyDir": map[string]any{}}},
	"extraVolumeMounts": []any{map[string]any{"name": "plugins", "mountPath": "/plugins"}},
	"dashboard":         map[string]any{"labelKey": "grafana.io/dashboard", "labelValue": "hub", "namespace": "monitoring"},
	"sharding":          map[string]any{"enabled": true},
	"image":             map[string]any{"digest": imageDigest},
	"topologySpreadConstraints": []any{map[string]any{
		"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
	}},
}

// pairingRules are the pairing.rules of the chart's values.yaml example:
// OCM's profiles of region eu1 map into the apinet profile apinet-eu1.
var pairingRules = []any{
	map[string]any{"namespace": "fleet", "role": "ironcore", "peer": "apinet-eu1",
		"selector": map[string]any{"matchLabels": map[string]any{
			"x-k8s.io/cluster-manager": "open-cluster-management", "topology.example/region": "eu1"}}},
	map[string]any{"namespace": "fleet", "names": []string{"apinet-eu1"}, "role": "apinet"},
}

// podAnnotations are the pod template's annotations of the rendered
// Deployment (none: an empty map; the template may render a null).
func podAnnotations(objs []*unstructured.Unstructured) map[string]any {
	GinkgoHelper()
	deployments := find(objs, "Deployment")
	Expect(deployments).To(HaveLen(1))
	annotations, _, err := unstructured.NestedFieldNoCopy(deployments[0].Object, "spec", "template", "metadata", "annotations")
	Expect(err).NotTo(HaveOccurred())
	if annotations == nil {
		return map[string]any{}
	}
	Expect(annotations).To(BeAssignableToTypeOf(map[string]any{}))
	return annotations.(map[string]any)
}

// containerArgs are the args of the hub container of the rendered
// Deployment.
func containerArgs(objs []*unstructured.Unstructured) []string {
	GinkgoHelper()
	deployments := find(objs, "Deployment")
	Expect(deployments).To(HaveLen(1))
	containers, _, err := unstructured.NestedSlice(deployments[0].Object, "spec", "template", "spec", "containers")
	Expect(err).NotTo(HaveOccurred())
	Expect(containers).To(HaveLen(1))
	args, _, err := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	Expect(err).NotTo(HaveOccurred())
	return args
}

// podSpec is the pod template's spec of the rendered Deployment.
func podSpec(objs []*unstructured.Unstructured) map[string]any {
	GinkgoHelper()
	deployments := find(objs, "Deployment")
	Expect(deployments).To(HaveLen(1))
	pod, found, err := unstructured.NestedMap(deployments[0].Object, "spec", "template", "spec")
	Expect(err).NotTo(HaveOccurred())
	Expect(found).To(BeTrue())
	return pod
}

// hubContainer is the hub container of the rendered Deployment.
func hubContainer(objs []*unstructured.Unstructured) map[string]any {
	GinkgoHelper()
	containers, _ := podSpec(objs)["containers"].([]any)
	Expect(containers).To(HaveLen(1))
	return containers[0].(map[string]any)
}

// rbacRules are the rules of every rendered Role and ClusterRole, by
// "<kind> <namespace>/<name>".
func rbacRules(objs []*unstructured.Unstructured) map[string][]rbacv1.PolicyRule {
	GinkgoHelper()
	rules := map[string][]rbacv1.PolicyRule{}
	for _, o := range append(find(objs, "Role"), find(objs, "ClusterRole")...) {
		role := &rbacv1.ClusterRole{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role)).To(Succeed())
		rules[o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName()] = role.Rules
	}
	return rules
}

var _ = Describe("The chart", func() {
	BeforeEach(requireHelm)

	It("passes helm lint, also with --strict", func(ctx SpecContext) {
		for _, args := range [][]string{{"lint", chartDir}, {"lint", "--strict", chartDir}} {
			out, err := helm(ctx, args...)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("0 chart(s) failed"))
		}
	})

	It("passes helm lint --strict with every optional feature on", func(ctx SpecContext) {
		file, err := valuesFile(everyFeature)
		Expect(err).NotTo(HaveOccurred())
		_, err = helm(ctx, "lint", "--strict", chartDir, "--namespace", hubNamespace, "--values", file)
		Expect(err).NotTo(HaveOccurred())
	})

	It("renders by default a leader-elected Deployment of 2 replicas reading the fleet namespace only", func(ctx SpecContext) {
		objs := renderObjects(ctx, nil)
		Expect(kinds(objs)).To(ConsistOf(
			"ServiceAccount apinet-hub/hub-apinet-hub",
			"Role apinet-hub/hub-apinet-hub-leader-election", "RoleBinding apinet-hub/hub-apinet-hub-leader-election",
			"Role fleet/hub-apinet-hub-fleet", "RoleBinding fleet/hub-apinet-hub-fleet",
			"ClusterRole /"+metricsAuthRole, "ClusterRoleBinding /"+metricsAuthRole, "ClusterRole /"+metricsReaderRole,
			"Deployment apinet-hub/hub-apinet-hub", "Service apinet-hub/hub-apinet-hub-metrics",
			"PodDisruptionBudget apinet-hub/hub-apinet-hub", "ConfigMap apinet-hub/hub-apinet-hub-dashboard",
			"Pod apinet-hub/hub-apinet-hub-test-status-fleet", // the helm test hook
		))
		Expect(containerArgs(objs)).To(Equal([]string{"run", "--leader-elect", "--leader-election-namespace=apinet-hub",
			"--leader-election-lease-duration=15s", "--leader-election-renew-deadline=10s", "--leader-election-retry-period=2s",
			"--metrics-bind-address=:8443", "--metrics-secure=true", "--health-probe-bind-address=:8081", "--namespace=fleet",
			"--member-qps=100", "--member-burst=200", "--peer-qps=200", "--peer-burst=400", "--hub-qps=50", "--hub-burst=100",
			"--probe-interval=10s", "--probe-failure-threshold=3", "--probe-success-threshold=2",
			"--retry-interval=15s", "--max-retry-interval=5m", "--member-queue-share=1", "--member-max-in-flight=0",
			"--nat-min-public-ips=1", "--nat-max-public-ips=10",
			"--zap-log-level=info", "--memory-limit=$(MEMORY_LIMIT)"}))

		deployment := find(objs, "Deployment")[0]
		replicas, _, _ := unstructured.NestedFieldNoCopy(deployment.Object, "spec", "replicas")
		Expect(replicas).To(BeEquivalentTo(2))
		pod, _, _ := unstructured.NestedMap(deployment.Object, "spec", "template", "spec")
		Expect(pod).To(HaveKeyWithValue("serviceAccountName", "hub-apinet-hub"))
		Expect(pod).To(HaveKeyWithValue("affinity", HaveKey("podAntiAffinity")), "replicas prefer distinct nodes")
		container := pod["containers"].([]any)[0].(map[string]any)
		Expect(container["securityContext"]).To(SatisfyAll(
			HaveKeyWithValue("readOnlyRootFilesystem", true), HaveKeyWithValue("runAsNonRoot", true),
			HaveKeyWithValue("allowPrivilegeEscalation", false),
			HaveKeyWithValue("capabilities", HaveKeyWithValue("drop", ConsistOf("ALL"))),
			HaveKeyWithValue("seccompProfile", HaveKeyWithValue("type", "RuntimeDefault")),
		))
		Expect(container["livenessProbe"]).To(HaveKeyWithValue("httpGet", HaveKeyWithValue("path", "/healthz")))
		Expect(container["readinessProbe"]).To(HaveKeyWithValue("httpGet", HaveKeyWithValue("path", "/readyz")))
		Expect(container["ports"]).To(ContainElement(SatisfyAll(HaveKeyWithValue("name", "metrics"), HaveKeyWithValue("containerPort", BeEquivalentTo(8443)))))
		Expect(container).To(HaveKeyWithValue("image", "ghcr.io/apinet-hub/apinet-hub:0.1.0"), "the appVersion's tag")
		Expect(container["env"]).To(Equal([]any{map[string]any{"name": "MEMORY_LIMIT",
			"valueFrom": map[string]any{"resourceFieldRef": map[string]any{"resource": "limits.memory"}}}}),
			"the container's memory limit, for the Go runtime's soft limit (--memory-limit)")
		Expect(pod).NotTo(HaveKey("topologySpreadConstraints"))

		dashboard := find(objs, "ConfigMap")[0]
		Expect(dashboard.GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "1"))
		data, _, _ := unstructured.NestedString(dashboard.Object, "data", "apinet-hub.json")
		Expect(json.Valid([]byte(data))).To(BeTrue(), "the ConfigMap holds the dashboard JSON")
	})

	It("grants no wildcard verbs or resources and no Secret access outside the fleet namespaces", func(ctx SpecContext) {
		for _, values := range []map[string]any{nil, {"fleetNamespaces": []string{"fleet-a", "fleet-b"}}, everyFeature} {
			objs := renderObjects(ctx, values)
			for name, rules := range rbacRules(objs) {
				for _, r := range rules {
					Expect(r.Verbs).NotTo(ContainElement("*"), name)
					Expect(r.Resources).NotTo(ContainElement(ContainSubstring("*")), name)
					Expect(r.APIGroups).NotTo(ContainElement("*"), name)
					if strings.HasPrefix(name, "Role "+hubNamespace+"/") {
						Expect(r.Resources).NotTo(ContainElement("secrets"), "%s: the release namespace's Secrets are none of the hub's business", name)
					}
				}
			}
		}
		roles := rbacRules(renderObjects(ctx, map[string]any{"fleetNamespaces": []string{"fleet-a", "fleet-b"}}))
		Expect(roles).To(HaveKey("Role fleet-a/hub-apinet-hub-fleet"))
		Expect(roles).To(HaveKey("Role fleet-b/hub-apinet-hub-fleet"))
		for name := range roles {
			if strings.HasPrefix(name, "ClusterRole") {
				Expect(name).To(BeElementOf("ClusterRole /"+metricsAuthRole, "ClusterRole /"+metricsReaderRole),
					"named fleet namespaces need no ClusterRole; the HTTPS metrics' are no fleet rules")
			}
		}
	})

	It("renders every optional feature: ServiceMonitor, PrometheusRule, NetworkPolicy, access providers, watching all namespaces", func(ctx SpecContext) {
		objs := renderObjects(ctx, everyFeature)
		Expect(kinds(objs)).To(ContainElements(
			"ServiceMonitor monitoring/hub-apinet-hub", "PrometheusRule monitoring/hub-apinet-hub",
			"NetworkPolicy apinet-hub/hub-apinet-hub", "ClusterRoleBinding /"+metricsReaderRole,
			"ConfigMap apinet-hub/hub-apinet-hub-access-providers",
			"ClusterRole /apinet-hub-hub-apinet-hub-fleet", "ClusterRoleBinding /apinet-hub-hub-apinet-hub-fleet",
			"ConfigMap monitoring/hub-apinet-hub-dashboard",
			"Role apinet-hub/hub-apinet-hub-sharding", "RoleBinding apinet-hub/hub-apinet-hub-sharding",
		))
		Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("Role fleet/")))
		args := containerArgs(objs)
		Expect(args).NotTo(ContainElement(HavePrefix("--namespace")), "no --namespace: every namespace")
		Expect(args).To(ContainElements("--clusterprofile-provider-file=/etc/apinet-hub/access-providers/providers.json",
			"--watch-filter=blue", "--zap-log-level=2", "--engage-workers=8"))

		var providers *unstructured.Unstructured
		for _, cm := range find(objs, "ConfigMap") {
			if strings.HasSuffix(cm.GetName(), "-access-providers") {
				providers = cm
			}
		}
		file, _, _ := unstructured.NestedString(providers.Object, "data", "providers.json")
		var parsed struct {
			Providers []struct {
				Name       string `json:"name"`
				ExecConfig struct {
					Command string `json:"command"`
				} `json:"execConfig"`
			} `json:"providers"`
		}
		Expect(json.Unmarshal([]byte(file), &parsed)).To(Succeed(), "the access-provider file is JSON: %s", file)
		Expect(parsed.Providers).To(HaveLen(1))
		Expect(parsed.Providers[0].Name).To(Equal("token-plugin"))
		Expect(parsed.Providers[0].ExecConfig.Command).To(Equal("/plugins/token"))

		Expect(find(objs, "ConfigMap")).To(ContainElement(WithTransform(func(u *unstructured.Unstructured) map[string]string {
			return u.GetLabels()
		}, HaveKeyWithValue("grafana.io/dashboard", "hub"))), "the dashboard label is configurable")
	})

	It("with sharding.enabled, runs every replica as a shard named after its pod, with a Role on the release namespace's Leases instead of leader election", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"sharding": map[string]any{"enabled": true}})
		args := containerArgs(objs)
		Expect(args).To(ContainElements("--experimental-sharding", "--shard-id=$(POD_NAME)",
			"--leader-election-namespace=apinet-hub", "--leader-election-lease-duration=15s", "--shard-lease-qps=200"))
		Expect(args).NotTo(ContainElement("--leader-elect"), "apinet-hub run exits 2 on --experimental-sharding with --leader-elect")
		Expect(args).NotTo(ContainElement(HavePrefix("--leader-election-renew-deadline")), "no leader election to tune")
		Expect(args).NotTo(ContainElement(HavePrefix("--leader-election-retry-period")))
		Expect(hubContainer(objs)["env"]).To(ContainElement(SatisfyAll(HaveKeyWithValue("name", "POD_NAME"),
			HaveKeyWithValue("valueFrom", HaveKeyWithValue("fieldRef", HaveKeyWithValue("fieldPath", "metadata.name"))))),
			"$(POD_NAME) is the downward API's pod name")

		Expect(kinds(objs)).To(ContainElements("Role apinet-hub/hub-apinet-hub-sharding", "RoleBinding apinet-hub/hub-apinet-hub-sharding",
			"Role fleet/hub-apinet-hub-fleet", "PodDisruptionBudget apinet-hub/hub-apinet-hub"))
		Expect(kinds(objs)).NotTo(ContainElement(ContainSubstring("leader-election")))
		// multicluster-runtime v0.24.1 pkg/manager/coordinator/sharded: the
		// fences (leaseguard.go) get, create and update; the peer registry
		// (peers/registry.go) gets, creates, updates and lists. Nothing
		// watches (no cache), deletes or patches.
		Expect(rbacRules(objs)).To(HaveKeyWithValue("Role apinet-hub/hub-apinet-hub-sharding", ConsistOf(rbacv1.PolicyRule{
			APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "create", "update", "delete"},
		})))
		for _, binding := range find(objs, "RoleBinding") {
			if binding.GetName() != "hub-apinet-hub-sharding" {
				continue
			}
			role, _, _ := unstructured.NestedString(binding.Object, "roleRef", "name")
			Expect(role).To(Equal("hub-apinet-hub-sharding"))
			subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
			Expect(subjects).To(ConsistOf(map[string]any{"kind": "ServiceAccount", "name": serviceAccount, "namespace": hubNamespace}))
		}

		withEnv := renderObjects(ctx, map[string]any{"sharding": map[string]any{"enabled": true},
			"extraEnv": []any{map[string]string{"name": "TZ", "value": "UTC"}}})
		Expect(hubContainer(withEnv)["env"]).To(ConsistOf(HaveKeyWithValue("name", "MEMORY_LIMIT"), HaveKeyWithValue("name", "POD_NAME"), HaveKeyWithValue("name", "TZ")))
	})

	It("pulls the image by digest when image.digest is set, whatever the tag", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"image": map[string]any{"tag": "v9.9.9", "digest": imageDigest}})
		Expect(hubContainer(objs)).To(HaveKeyWithValue("image", "ghcr.io/apinet-hub/apinet-hub@"+imageDigest))
		Expect(hubContainer(renderObjects(ctx, map[string]any{"image": map[string]any{"tag": "v9.9.9"}}))).
			To(HaveKeyWithValue("image", "ghcr.io/apinet-hub/apinet-hub:v9.9.9"))
	})

	It("passes topologySpreadConstraints to the pod, selecting the hub's pods where a constraint names no selector", func(ctx SpecContext) {
		own := map[string]any{"matchLabels": map[string]any{"tier": "hub"}}
		objs := renderObjects(ctx, map[string]any{"topologySpreadConstraints": []any{
			map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"},
			map[string]any{"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": own},
		}})
		pod := podSpec(objs)
		Expect(pod["topologySpreadConstraints"]).To(HaveExactElements(
			SatisfyAll(HaveKeyWithValue("maxSkew", BeEquivalentTo(1)), HaveKeyWithValue("topologyKey", "topology.kubernetes.io/zone"),
				HaveKeyWithValue("whenUnsatisfiable", "ScheduleAnyway"),
				HaveKeyWithValue("labelSelector", map[string]any{"matchLabels": map[string]any{
					"app.kubernetes.io/name": "apinet-hub", "app.kubernetes.io/instance": "hub"}})),
			SatisfyAll(HaveKeyWithValue("maxSkew", BeEquivalentTo(2)), HaveKeyWithValue("topologyKey", "kubernetes.io/hostname"),
				HaveKeyWithValue("whenUnsatisfiable", "DoNotSchedule"), HaveKeyWithValue("labelSelector", own)),
		))
		Expect(pod).To(HaveKeyWithValue("affinity", HaveKey("podAntiAffinity")), "the default affinity stays")
	})

	It("passes no memory limit to the Go runtime when the container has none", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"resources": map[string]any{"limits": nil}})
		Expect(containerArgs(objs)).NotTo(ContainElement(HavePrefix("--memory-limit")))
		Expect(hubContainer(objs)).NotTo(HaveKey("env"))
	})

	It("with secretReader.enabled, runs Cluster Inventory's secret-reader plugin from the image as access provider secretreader, reading token Secrets of the first fleet namespace", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"secretReader": map[string]any{"enabled": true}})
		Expect(containerArgs(objs)).To(ContainElement("--clusterprofile-provider-file=/etc/apinet-hub/access-providers/providers.json"))
		var cm *unstructured.Unstructured
		for _, c := range find(objs, "ConfigMap") {
			if strings.HasSuffix(c.GetName(), "-access-providers") {
				cm = c
			}
		}
		Expect(cm).NotTo(BeNil())
		file, _, _ := unstructured.NestedString(cm.Object, "data", "providers.json")
		var providers struct {
			Providers []struct {
				Name       string         `json:"name"`
				ExecConfig map[string]any `json:"execConfig"`
			} `json:"providers"`
		}
		Expect(json.Unmarshal([]byte(file), &providers)).To(Succeed())
		Expect(providers.Providers).To(HaveLen(1))
		Expect(providers.Providers[0].Name).To(Equal("secretreader"))
		Expect(providers.Providers[0].ExecConfig).To(And(HaveKeyWithValue("command", "/plugins/secretreader"), HaveKeyWithValue("provideClusterInfo", true),
			HaveKeyWithValue("env", ContainElement(HaveKeyWithValue("value", "/etc/apinet-hub/access-providers/secretreader.kubeconfig")))))
		kubeconfig, _, _ := unstructured.NestedString(cm.Object, "data", "secretreader.kubeconfig")
		kc, err := clientcmd.Load([]byte(kubeconfig))
		Expect(err).NotTo(HaveOccurred())
		Expect(kc.Contexts[kc.CurrentContext].Namespace).To(Equal("fleet"), "the plugin reads the token Secrets of the fleet namespace")
	})

	It("with pairing.rules, passes them as the hub's --pairing-file from a ConfigMap, and rolls the pods when they change", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"pairing": map[string]any{"rules": pairingRules}})
		Expect(kinds(objs)).To(ContainElement("ConfigMap apinet-hub/hub-apinet-hub-pairing"))
		Expect(containerArgs(objs)).To(ContainElement("--pairing-file=/etc/apinet-hub/pairing/pairing.yaml"))
		Expect(hubContainer(objs)["volumeMounts"]).To(ContainElement(map[string]any{
			"name": "pairing", "mountPath": "/etc/apinet-hub/pairing", "readOnly": true}))
		Expect(podSpec(objs)["volumes"]).To(ContainElement(map[string]any{
			"name": "pairing", "configMap": map[string]any{"name": "hub-apinet-hub-pairing"}}))
		checksum := podAnnotations(objs)["checksum/pairing"]
		Expect(checksum).To(MatchRegexp("^[0-9a-f]{64}$"), "the pods roll when the rules change: the hub reads them at start")

		cm := object(objs, "ConfigMap", hubNamespace+"/hub-apinet-hub-pairing")
		file, _, _ := unstructured.NestedString(cm.Object, "data", "pairing.yaml")
		pairing, err := clusterprofiles.ParsePairing([]byte(file))
		Expect(err).NotTo(HaveOccurred(), "the hub reads the pairing file: %s", file)
		Expect(pairing.Rules).To(HaveLen(2))
		Expect(pairing.Rules[0].Role).To(Equal(clusterprofiles.RoleIronCore))
		Expect(pairing.Rules[0].Peer).To(Equal("apinet-eu1"))
		Expect(pairing.Rules[0].Selector.MatchLabels).To(HaveKeyWithValue("x-k8s.io/cluster-manager", "open-cluster-management"))
		Expect(pairing.Rules[1].Role).To(Equal(clusterprofiles.RoleAPINet))
		Expect(pairing.Rules[1].Names).To(ConsistOf("apinet-eu1"))

		By("changing a rule changes the pods' checksum")
		changed := renderObjects(ctx, map[string]any{"pairing": map[string]any{"rules": pairingRules[:1]}})
		Expect(podAnnotations(changed)["checksum/pairing"]).NotTo(BeElementOf(checksum, ""))

		By("with every other feature on too")
		all := map[string]any{"pairing": map[string]any{"rules": pairingRules}}
		for k, v := range everyFeature {
			all[k] = v
		}
		args := containerArgs(renderObjects(ctx, all))
		Expect(args).To(ContainElements("--pairing-file=/etc/apinet-hub/pairing/pairing.yaml",
			"--clusterprofile-provider-file=/etc/apinet-hub/access-providers/providers.json"))
	})

	It("without pairing.rules, renders no pairing file, flag, mount or checksum", func(ctx SpecContext) {
		for _, values := range []map[string]any{nil, {"pairing": map[string]any{"rules": []any{}}}, everyFeature} {
			objs := renderObjects(ctx, values)
			Expect(kinds(objs)).NotTo(ContainElement(HaveSuffix("-pairing")))
			Expect(containerArgs(objs)).NotTo(ContainElement(HavePrefix("--pairing-file")))
			Expect(hubContainer(objs)["volumeMounts"]).NotTo(ContainElement(HaveKeyWithValue("name", "pairing")))
			Expect(podSpec(objs)["volumes"]).NotTo(ContainElement(HaveKeyWithValue("name", "pairing")))
			Expect(podAnnotations(objs)).NotTo(HaveKey("checksum/pairing"))
		}
	})

	It("with sharding.enabled and 3 replicas, runs 3 shards that drains take one at a time (PodDisruptionBudget maxUnavailable 1)", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"sharding": map[string]any{"enabled": true}, "replicas": 3})
		replicas, _, _ := unstructured.NestedFieldNoCopy(find(objs, "Deployment")[0].Object, "spec", "replicas")
		Expect(replicas).To(BeEquivalentTo(3))
		args := containerArgs(objs)
		Expect(args).To(ContainElement("--experimental-sharding"))
		Expect(args).NotTo(ContainElement("--leader-elect"))

		pdbs := find(objs, "PodDisruptionBudget")
		Expect(pdbs).To(HaveLen(1))
		spec, _, _ := unstructured.NestedMap(pdbs[0].Object, "spec")
		Expect(spec).To(HaveKeyWithValue("maxUnavailable", BeEquivalentTo(1)),
			"a drain takes one shard at a time; its members move to the others")
		Expect(spec).NotTo(HaveKey("minAvailable"), "a PodDisruptionBudget takes one of the two")
		Expect(spec).To(HaveKeyWithValue("selector", HaveKeyWithValue("matchLabels", HaveKeyWithValue("app.kubernetes.io/instance", "hub"))))
	})

	It("without sharding, keeps the leader or a standby through drains (PodDisruptionBudget minAvailable 1), with 2 or 3 replicas", func(ctx SpecContext) {
		for _, values := range []map[string]any{nil, {"replicas": 3}} {
			pdbs := find(renderObjects(ctx, values), "PodDisruptionBudget")
			Expect(pdbs).To(HaveLen(1))
			spec, _, _ := unstructured.NestedMap(pdbs[0].Object, "spec")
			Expect(spec).To(HaveKeyWithValue("minAvailable", BeEquivalentTo(1)), "values %v", values)
			Expect(spec).NotTo(HaveKey("maxUnavailable"), "values %v", values)
		}
	})

	It("renders no PodDisruptionBudget for a single replica, which it would keep from ever draining", func(ctx SpecContext) {
		Expect(kinds(renderObjects(ctx, map[string]any{"replicas": 1}))).NotTo(ContainElement(HavePrefix("PodDisruptionBudget")))
	})

	DescribeTable("rejects bad values",
		func(ctx SpecContext, values map[string]any, message string) {
			_, err := render(ctx, values)
			Expect(err).To(MatchError(ContainSubstring(message)))
		},
		Entry("replicas as a word", map[string]any{"replicas": "two"}, "at '/replicas': got string, want integer"),
		Entry("no replicas", map[string]any{"replicas": 0}, "at '/replicas': minimum: got 0, want 1"),
		Entry("a misspelt key", map[string]any{"replica": 3}, "additional properties 'replica' not allowed"),
		Entry("one fleet namespace as a string", map[string]any{"fleetNamespaces": "fleet"}, "at '/fleetNamespaces': got string, want array"),
		Entry("a fleet namespace that is no name", map[string]any{"fleetNamespaces": []string{"Fleet_1"}}, "at '/fleetNamespaces/0': 'Fleet_1' does not match pattern"),
		Entry("an unknown log level", map[string]any{"config": map[string]any{"logLevel": "verbose"}}, "at '/config/logLevel'"),
		Entry("a probe interval without unit", map[string]any{"config": map[string]any{"probeInterval": "10"}}, "at '/config/probeInterval': '10' does not match pattern"),
		Entry("a negative NAT minimum", map[string]any{"config": map[string]any{"natMinPublicIPs": -1}}, "at '/config/natMinPublicIPs': minimum: got -1, want 0"),
		Entry("a NAT minimum above the maximum", map[string]any{"config": map[string]any{"natMinPublicIPs": 5, "natMaxPublicIPs": 2}}, "config.natMinPublicIPs (5) is above config.natMaxPublicIPs (2)"),
		Entry("an extra arg that is no flag", map[string]any{"extraArgs": []string{"engage-workers=8"}}, "at '/extraArgs/0'"),
		Entry("an access provider without command", map[string]any{"accessProviders": []any{map[string]any{
			"name": "p", "execConfig": map[string]any{"apiVersion": "client.authentication.k8s.io/v1"}}}}, "missing property 'command'"),
		Entry("a pairing rule with an unknown role", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"names": []string{"a"}, "role": "ironcor", "peer": "p"}}}}, "at '/pairing/rules/0/role': value must be one of 'ironcore', 'apinet'"),
		Entry("a pairing rule of role ironcore without peer", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"names": []string{"a"}, "role": "ironcore"}}}}, "missing property 'peer'"),
		Entry("a pairing rule of role apinet with a peer", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"names": []string{"a"}, "role": "apinet", "peer": "p"}}}}, "at '/pairing/rules/0/peer'"),
		Entry("a pairing rule without names or selector", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"namespace": "fleet", "role": "apinet"}}}}, "at '/pairing/rules/0': 'anyOf' failed"),
		Entry("a pairing rule with a misspelt key", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"selector": map[string]any{}, "role": "apinet", "namespaces": []string{"fleet"}}}}}, "additional properties 'namespaces' not allowed"),
		Entry("a pairing selector with a misspelt key", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"selector": map[string]any{"matchLabel": map[string]any{"a": "b"}}, "role": "apinet"}}}}, "at '/pairing/rules/0/selector': additional properties 'matchLabel' not allowed"),
		Entry("a pairing rule's names as a string", map[string]any{"pairing": map[string]any{"rules": []any{
			map[string]any{"names": "apinet-eu1", "role": "apinet"}}}}, "at '/pairing/rules/0/names': got string, want array"),
		Entry("an unknown pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy': value must be one of"),
		Entry("an image digest that is short", map[string]any{"image": map[string]any{"digest": "sha256:0123abc"}}, "at '/image/digest': 'sha256:0123abc' does not match pattern"),
		Entry("an image digest without its algorithm", map[string]any{"image": map[string]any{"digest": strings.TrimPrefix(imageDigest, "sha256:")}}, "at '/image/digest'"),
		Entry("an image digest that is a tag", map[string]any{"image": map[string]any{"digest": "v0.1.0"}}, "at '/image/digest'"),
		Entry("sharding as a flag", map[string]any{"sharding": true}, "at '/sharding': got boolean, want object"),
		Entry("a spread constraint without topologyKey", map[string]any{"topologySpreadConstraints": []any{
			map[string]any{"maxSkew": 1, "whenUnsatisfiable": "ScheduleAnyway"}}}, "at '/topologySpreadConstraints/0': missing property 'topologyKey'"),
		Entry("a spread constraint with an unknown policy", map[string]any{"topologySpreadConstraints": []any{
			map[string]any{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "Sometimes"}}}, "at '/topologySpreadConstraints/0/whenUnsatisfiable'"),
	)
})
