package chart

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// metricsAuthRole lets the hub review the tokens of its HTTPS metrics'
	// scrapers; metricsReaderRole is what a scraper is bound to. Both are
	// cluster-scoped: named after the release namespace too.
	metricsAuthRole   = "apinet-hub-hub-apinet-hub-metrics-auth"
	metricsReaderRole = "apinet-hub-hub-apinet-hub-metrics-reader"
	// metricsService is the metrics Service, whose name is the job of the
	// ServiceMonitor's targets.
	metricsService = "hub-apinet-hub-metrics"
)

// prometheusSubject is a scraper's ServiceAccount in metrics.readerSubjects.
var prometheusSubject = map[string]any{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}

// monitoringNamespace is a NetworkPolicyPeer: the namespace monitoring.
var monitoringNamespace = map[string]any{"namespaceSelector": map[string]any{
	"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}

// object is the rendered object of kind named "<namespace>/<name>".
func object(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range find(objs, kind) {
		if o.GetNamespace()+"/"+o.GetName() == name {
			return o
		}
	}
	Fail("no " + kind + " " + name + " among " + strings.Join(kinds(objs), ", "))
	return nil
}

// endpoint is the only endpoint of the rendered ServiceMonitor.
func endpoint(objs []*unstructured.Unstructured) map[string]any {
	GinkgoHelper()
	monitors := find(objs, "ServiceMonitor")
	Expect(monitors).To(HaveLen(1))
	endpoints, _, err := unstructured.NestedSlice(monitors[0].Object, "spec", "endpoints")
	Expect(err).NotTo(HaveOccurred())
	Expect(endpoints).To(HaveLen(1))
	return endpoints[0].(map[string]any)
}

// field is the value at path of o.
func field(o *unstructured.Unstructured, path ...string) any {
	GinkgoHelper()
	v, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	Expect(err).NotTo(HaveOccurred())
	Expect(found).To(BeTrue(), "%s %s has %s", o.GetKind(), o.GetName(), strings.Join(path, "."))
	return v
}

// bindingSubjects are the roleRef name and subjects of a rendered
// (Cluster)RoleBinding.
func bindingSubjects(o *unstructured.Unstructured) (string, []any) {
	GinkgoHelper()
	role, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
	subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
	return role, subjects
}

var _ = Describe("The chart's metrics, alerts and network policy", func() {
	BeforeEach(requireHelm)

	It("serves the metrics over HTTPS on 8443 by default, and lets the hub review its scrapers' tokens", func(ctx SpecContext) {
		objs := renderObjects(ctx, nil)
		args := containerArgs(objs)
		Expect(args).To(ContainElements("--metrics-bind-address=:8443", "--metrics-secure=true"))
		Expect(args).NotTo(ContainElement(HavePrefix("--metrics-cert-dir")), "a self-signed certificate")
		Expect(hubContainer(objs)["ports"]).To(ContainElement(map[string]any{"name": "metrics", "containerPort": float64(8443), "protocol": "TCP"}))
		Expect(podSpec(objs)["volumes"]).NotTo(ContainElement(HaveKeyWithValue("name", "metrics-certs")))

		service := object(objs, "Service", hubNamespace+"/"+metricsService)
		Expect(field(service, "spec", "ports")).To(ConsistOf(map[string]any{
			"name": "metrics", "port": float64(8443), "targetPort": "metrics", "protocol": "TCP"}))

		// controller-runtime's filters.WithAuthenticationAndAuthorization:
		// a TokenReview per scrape's token, a SubjectAccessReview for get
		// on its path; nothing else.
		rules := rbacRules(objs)
		Expect(rules).To(HaveKeyWithValue("ClusterRole /"+metricsAuthRole, ConsistOf(
			rbacv1.PolicyRule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			rbacv1.PolicyRule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		)))
		Expect(rules).To(HaveKeyWithValue("ClusterRole /"+metricsReaderRole, ConsistOf(
			rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
		)))
		role, subjects := bindingSubjects(object(objs, "ClusterRoleBinding", "/"+metricsAuthRole))
		Expect(role).To(Equal(metricsAuthRole))
		Expect(subjects).To(ConsistOf(map[string]any{"kind": "ServiceAccount", "name": serviceAccount, "namespace": hubNamespace}))
		Expect(kinds(objs)).NotTo(ContainElement("ClusterRoleBinding /"+metricsReaderRole), "no reader to bind by default")
		Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("ServiceMonitor")))
		Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("PrometheusRule")))
		Expect(kinds(objs)).NotTo(ContainElement(HavePrefix("NetworkPolicy")))
	})

	It("binds metrics.readerSubjects to the metrics-reader ClusterRole", func(ctx SpecContext) {
		group := map[string]any{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}
		objs := renderObjects(ctx, map[string]any{"metrics": map[string]any{"readerSubjects": []any{prometheusSubject, group}}})
		role, subjects := bindingSubjects(object(objs, "ClusterRoleBinding", "/"+metricsReaderRole))
		Expect(role).To(Equal(metricsReaderRole))
		Expect(subjects).To(HaveExactElements(prometheusSubject, group))
	})

	It("with metrics.secure=false, serves plain HTTP on 8080 with no RBAC for it", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"metrics": map[string]any{"secure": false, "readerSubjects": []any{prometheusSubject}},
			"serviceMonitor": map[string]any{"enabled": true}})
		Expect(containerArgs(objs)).To(ContainElements("--metrics-bind-address=:8080", "--metrics-secure=false"))
		Expect(hubContainer(objs)["ports"]).To(ContainElement(HaveKeyWithValue("containerPort", BeEquivalentTo(8080))))
		Expect(field(object(objs, "Service", hubNamespace+"/"+metricsService), "spec", "ports")).
			To(ConsistOf(HaveKeyWithValue("port", BeEquivalentTo(8080))))
		Expect(kinds(objs)).NotTo(ContainElement(ContainSubstring("-metrics-")), "no metrics ClusterRoles")
		ep := endpoint(objs)
		Expect(ep).To(HaveKeyWithValue("scheme", "http"))
		Expect(ep).NotTo(HaveKey("bearerTokenFile"))
		Expect(ep).NotTo(HaveKey("authorization"))
		Expect(ep).NotTo(HaveKey("tlsConfig"))
	})

	It("moves the endpoint, its Service and the NetworkPolicy to metrics.port", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"metrics": map[string]any{"port": 9443}, "networkPolicy": map[string]any{"enabled": true}})
		Expect(containerArgs(objs)).To(ContainElement("--metrics-bind-address=:9443"))
		Expect(hubContainer(objs)["ports"]).To(ContainElement(HaveKeyWithValue("containerPort", BeEquivalentTo(9443))))
		Expect(field(object(objs, "Service", hubNamespace+"/"+metricsService), "spec", "ports")).
			To(ConsistOf(HaveKeyWithValue("port", BeEquivalentTo(9443))))
		Expect(field(object(objs, "NetworkPolicy", hubNamespace+"/hub-apinet-hub"), "spec", "ingress")).
			To(ContainElement(HaveKeyWithValue("ports", ConsistOf(map[string]any{"port": float64(9443), "protocol": "TCP"}))))
	})

	It("with metrics.certSecret, mounts it as --metrics-cert-dir and has the ServiceMonitor verify it", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"metrics": map[string]any{"certSecret": "hub-metrics-tls"},
			"serviceMonitor": map[string]any{"enabled": true}})
		Expect(containerArgs(objs)).To(ContainElement("--metrics-cert-dir=/etc/apinet-hub/metrics-certs"))
		Expect(hubContainer(objs)["volumeMounts"]).To(ContainElement(map[string]any{
			"name": "metrics-certs", "mountPath": "/etc/apinet-hub/metrics-certs", "readOnly": true}))
		Expect(podSpec(objs)["volumes"]).To(ContainElement(map[string]any{
			"name": "metrics-certs", "secret": map[string]any{"secretName": "hub-metrics-tls"}}))
		Expect(endpoint(objs)).To(HaveKeyWithValue("tlsConfig", map[string]any{
			"serverName": metricsService + "." + hubNamespace + ".svc",
			"ca":         map[string]any{"secret": map[string]any{"name": "hub-metrics-tls", "key": "ca.crt"}},
		}))
	})

	It("renders a ServiceMonitor scraping HTTPS with Prometheus' token, in serviceMonitor.namespace, with relabelings", func(ctx SpecContext) {
		relabel := map[string]any{"action": "labeldrop", "regex": "pod"}
		drop := map[string]any{"action": "drop", "sourceLabels": []any{"__name__"}, "regex": "go_gc_.*"}
		objs := renderObjects(ctx, map[string]any{"serviceMonitor": map[string]any{"enabled": true, "namespace": "monitoring",
			"labels": map[string]string{"release": "prometheus"}, "relabelings": []any{relabel}, "metricRelabelings": []any{drop}}})
		monitor := object(objs, "ServiceMonitor", "monitoring/hub-apinet-hub")
		Expect(monitor.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
		Expect(field(monitor, "spec", "namespaceSelector")).To(Equal(map[string]any{"matchNames": []any{hubNamespace}}),
			"the Service stays in the release namespace")
		Expect(field(monitor, "spec", "selector")).To(Equal(map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/name": "apinet-hub", "app.kubernetes.io/instance": "hub"}}))
		Expect(endpoint(objs)).To(Equal(map[string]any{
			"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s",
			"scheme":            "https",
			"bearerTokenFile":   "/var/run/secrets/kubernetes.io/serviceaccount/token",
			"tlsConfig":         map[string]any{"insecureSkipVerify": true},
			"relabelings":       []any{relabel},
			"metricRelabelings": []any{drop},
		}))
	})

	It("takes serviceMonitor.authorization instead of bearerTokenFile, and serviceMonitor.tlsConfig instead of its own", func(ctx SpecContext) {
		authorization := map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "scraper-token", "key": "token"}}
		tlsConfig := map[string]any{"serverName": "hub.example", "ca": map[string]any{"configMap": map[string]any{"name": "hub-ca", "key": "ca.crt"}}}
		ep := endpoint(renderObjects(ctx, map[string]any{"metrics": map[string]any{"certSecret": "hub-metrics-tls"},
			"serviceMonitor": map[string]any{"enabled": true, "authorization": authorization, "tlsConfig": tlsConfig}}))
		Expect(ep).To(HaveKeyWithValue("authorization", authorization))
		Expect(ep).NotTo(HaveKey("bearerTokenFile"))
		Expect(ep).To(HaveKeyWithValue("tlsConfig", tlsConfig))
	})

	It("renders the PrometheusRule in prometheusRule.namespace with its labels, selecting the metrics Service's job by default", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"prometheusRule": map[string]any{"enabled": true,
			"namespace": "monitoring", "labels": map[string]string{"release": "prometheus"}}})
		rule := object(objs, "PrometheusRule", "monitoring/hub-apinet-hub")
		Expect(rule.GetLabels()).To(SatisfyAll(HaveKeyWithValue("release", "prometheus"), HaveKeyWithValue("app.kubernetes.io/instance", "hub")))
		groups := field(rule, "spec", "groups").([]any)
		Expect(groups).To(HaveLen(1))
		var alerts []string
		for _, r := range groups[0].(map[string]any)["rules"].([]any) {
			r := r.(map[string]any)
			alerts = append(alerts, r["alert"].(string))
			Expect(r["expr"]).To(ContainSubstring(`job="`+metricsService+`"`), "%s", r["alert"])
			Expect(r["expr"]).NotTo(ContainSubstring(`job="apinet-hub"`), "%s", r["alert"])
		}
		// test/alerts compares every rule with files/alerts.yaml.
		Expect(alerts).To(ConsistOf("ApinetHubMemberNotEngaged", "ApinetHubPeerUnusable", "ApinetHubReconcileErrors",
			"ApinetHubMappingSlow", "ApinetHubObjectsUnmapped", "ApinetHubDeletionsHeld", "ApinetHubNATShortOfPublicIPs",
			"ApinetHubCredentialExpiringSoon", "ApinetHubCredentialExpiryImminent", "ApinetHubNoLeader", "ApinetHubAbsent"))

		inRelease := renderObjects(ctx, map[string]any{"prometheusRule": map[string]any{"enabled": true, "jobSelector": `job=~"hub-.*"`}})
		rule = object(inRelease, "PrometheusRule", hubNamespace+"/hub-apinet-hub")
		Expect(field(rule, "spec", "groups")).To(ContainElement(HaveKeyWithValue("rules",
			ContainElement(HaveKeyWithValue("expr", ContainSubstring(`absent(up{job=~"hub-.*"} == 1)`))))))
	})

	It("with networkPolicy.enabled, lets in only the metrics port (from networkPolicy.metricsFrom) and the probes, and leaves egress open", func(ctx SpecContext) {
		policy := object(renderObjects(ctx, map[string]any{"networkPolicy": map[string]any{"enabled": true}}),
			"NetworkPolicy", hubNamespace+"/hub-apinet-hub")
		Expect(field(policy, "spec", "podSelector")).To(Equal(map[string]any{"matchLabels": map[string]any{
			"app.kubernetes.io/name": "apinet-hub", "app.kubernetes.io/instance": "hub"}}))
		Expect(field(policy, "spec", "policyTypes")).To(Equal([]any{"Ingress"}), "no Egress: the hub reaches members anywhere")
		Expect(field(policy, "spec", "ingress")).To(HaveExactElements(
			map[string]any{"ports": []any{map[string]any{"port": float64(8443), "protocol": "TCP"}}},
			map[string]any{"ports": []any{map[string]any{"port": float64(8081), "protocol": "TCP"}}},
		))
		Expect(policy.Object["spec"]).NotTo(HaveKey("egress"))

		egress := []any{map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}}}
		policy = object(renderObjects(ctx, map[string]any{"networkPolicy": map[string]any{"enabled": true,
			"metricsFrom": []any{monitoringNamespace}, "egress": egress}}), "NetworkPolicy", hubNamespace+"/hub-apinet-hub")
		Expect(field(policy, "spec", "policyTypes")).To(Equal([]any{"Ingress", "Egress"}))
		Expect(field(policy, "spec", "ingress")).To(HaveExactElements(
			map[string]any{"ports": []any{map[string]any{"port": float64(8443), "protocol": "TCP"}}, "from": []any{monitoringNamespace}},
			map[string]any{"ports": []any{map[string]any{"port": float64(8081), "protocol": "TCP"}}},
		))
		Expect(field(policy, "spec", "egress")).To(Equal(egress))
	})

	It("with rbac.create=false, renders no metrics ClusterRoles either", func(ctx SpecContext) {
		objs := renderObjects(ctx, map[string]any{"rbac": map[string]any{"create": false}, "metrics": map[string]any{"readerSubjects": []any{prometheusSubject}}})
		Expect(kinds(objs)).NotTo(ContainElement(ContainSubstring("Role")))
	})

	DescribeTable("rejects bad metrics, alert and network policy values",
		func(ctx SpecContext, values map[string]any, message string) {
			_, err := render(ctx, values)
			Expect(err).To(MatchError(ContainSubstring(message)))
		},
		Entry("metrics.secure as a string", map[string]any{"metrics": map[string]any{"secure": "yes"}}, "at '/metrics/secure': got string, want boolean"),
		Entry("the probes' port", map[string]any{"metrics": map[string]any{"port": 8081}}, "at '/metrics/port'"),
		Entry("a port out of range", map[string]any{"metrics": map[string]any{"port": 70000}}, "at '/metrics/port'"),
		Entry("a certSecret that is no name", map[string]any{"metrics": map[string]any{"certSecret": "Hub_TLS"}}, "at '/metrics/certSecret'"),
		Entry("a certSecret for plain HTTP", map[string]any{"metrics": map[string]any{"secure": false, "certSecret": "hub-metrics-tls"}},
			"metrics.certSecret needs metrics.secure"),
		Entry("a reader ServiceAccount without namespace", map[string]any{"metrics": map[string]any{"readerSubjects": []any{
			map[string]any{"kind": "ServiceAccount", "name": "prometheus"}}}}, "missing property 'namespace'"),
		Entry("a reader User without apiGroup", map[string]any{"metrics": map[string]any{"readerSubjects": []any{
			map[string]any{"kind": "User", "name": "alice"}}}}, "missing property 'apiGroup'"),
		Entry("a reader of an unknown kind", map[string]any{"metrics": map[string]any{"readerSubjects": []any{
			map[string]any{"kind": "Robot", "name": "r2"}}}}, "at '/metrics/readerSubjects/0/kind'"),
		Entry("a job selector that is a bare job name", map[string]any{"prometheusRule": map[string]any{"jobSelector": "hub-metrics"}},
			"at '/prometheusRule/jobSelector': 'hub-metrics' does not match pattern"),
		Entry("a job selector in braces", map[string]any{"prometheusRule": map[string]any{"jobSelector": `{job="hub"}`}},
			"at '/prometheusRule/jobSelector'"),
		Entry("a misspelt prometheusRule key", map[string]any{"prometheusRule": map[string]any{"enable": true}}, "additional properties 'enable' not allowed"),
		Entry("relabelings as an object", map[string]any{"serviceMonitor": map[string]any{"relabelings": map[string]any{"action": "drop"}}},
			"at '/serviceMonitor/relabelings': got object, want array"),
		Entry("an authorization type without credentials", map[string]any{"serviceMonitor": map[string]any{"authorization": map[string]any{"type": "Bearer"}}},
			"at '/serviceMonitor/authorization'"),
		Entry("networkPolicy as a flag", map[string]any{"networkPolicy": true}, "at '/networkPolicy': got boolean, want object"),
		Entry("egress rules as an object", map[string]any{"networkPolicy": map[string]any{"egress": map[string]any{}}}, "at '/networkPolicy/egress': got object, want array"),
	)
})
