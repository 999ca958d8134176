package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const (
	// crdFile is the chart's verbatim copy of the ClusterProfile CRD.
	crdFile = chartDir + "/files/crds/multicluster.x-k8s.io_clusterprofiles.yaml"
	// crdModule ships the CRD the chart pins (and test/fleet installs).
	crdModule = "sigs.k8s.io/cluster-inventory-api"
	// operationsDoc holds a runbook section per alert.
	operationsDoc = "../../docs/operations.md"
	// defaultRunbookBase is prometheusRule.runbookBaseURL's default.
	defaultRunbookBase = "https://github.com/apinet-hub/apinet-hub/blob/main/docs/operations.md"
	// krewManifest is the kubectl plugin's krew manifest.
	krewManifest = "../../plugins/apinet-hub.yaml"
	// pluginBinary is the binary's name as kubectl's plugin.
	pluginBinary = "kubectl-apinet_hub"
	// testPod is the helm test Pod of the default values (fleet namespace
	// "fleet").
	testPod = "hub-apinet-hub-test-status-fleet"
)

// missingAPIMessage is what the chart fails with where ClusterProfiles are
// not served (the pinned command in it, with the go.mod version, is
// checked by pinnedCommand).
var missingAPIMessage = "the cluster does not serve the ClusterProfile API (multicluster.x-k8s.io/v1alpha1/ClusterProfile)"

// crdModuleVersionDir is the version go.mod requires of crdModule and its
// folder in the module cache.
func crdModuleVersionDir(ctx context.Context) (string, string) {
	GinkgoHelper()
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", crdModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "go list -m %s: %s", crdModule, stderr.String())
	version, dir, found := strings.Cut(strings.TrimSpace(string(out)), " ")
	Expect(found).To(BeTrue(), "go list: %s", out)
	return version, dir
}

// pinnedCommand is the kubectl command that installs the CRD of version.
func pinnedCommand(version string) string {
	return "kubectl apply --server-side -f https://raw.githubusercontent.com/kubernetes-sigs/cluster-inventory-api/" +
		version + "/config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml"
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case,
// spaces to '-', every other character but letters, digits, '-' and '_'
// dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headingAnchors are the anchors of the Markdown headings of a document
// (outside code blocks).
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(line, "#") {
			anchors[githubAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	return anchors
}

// ruleAlerts are the alerts of the rendered PrometheusRule, each as its
// "alert" and "annotations".
func ruleAlerts(objs []*unstructured.Unstructured) []map[string]any {
	GinkgoHelper()
	rules := find(objs, "PrometheusRule")
	Expect(rules).To(HaveLen(1))
	groups, _, err := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
	Expect(err).NotTo(HaveOccurred())
	var alerts []map[string]any
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			alerts = append(alerts, r.(map[string]any))
		}
	}
	Expect(alerts).NotTo(BeEmpty())
	return alerts
}

var _ = Describe("An install that explains itself", func() {
	BeforeEach(requireHelm)

	Context("without the ClusterProfile API", func() {
		It("fails helm template with the pinned kubectl command, unless crds.install or --api-versions", func(ctx SpecContext) {
			version, _ := crdModuleVersionDir(ctx)
			_, err := renderArgs(ctx, nil)
			Expect(err).To(MatchError(SatisfyAll(ContainSubstring(missingAPIMessage), ContainSubstring(pinnedCommand(version)),
				ContainSubstring("set crds.install=true"), ContainSubstring("--api-versions "+clusterProfileAPI))))

			objs := renderObjects(ctx, nil)
			Expect(find(objs, "CustomResourceDefinition")).To(BeEmpty(), "crds.install is off by default")

			out, err := renderArgs(ctx, map[string]any{"crds": map[string]any{"install": true}})
			Expect(err).NotTo(HaveOccurred(), "crds.install=true renders without the API")
			objs, err = decode(out)
			Expect(err).NotTo(HaveOccurred())
			Expect(kinds(objs)).To(ContainElements("CustomResourceDefinition /clusterprofiles.multicluster.x-k8s.io",
				"Deployment apinet-hub/hub-apinet-hub"))
		})

		It("passes helm lint, which knows no cluster", func(ctx SpecContext) {
			out, err := helm(ctx, "lint", "--strict", chartDir)
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(ContainSubstring("0 chart(s) failed"))
		})
	})

	It("with crds.install, renders the CRD of the go.mod version verbatim, kept on uninstall", func(ctx SpecContext) {
		version, dir := crdModuleVersionDir(ctx)
		upstream, err := os.ReadFile(filepath.Join(dir, "config", "crd", "bases", "multicluster.x-k8s.io_clusterprofiles.yaml"))
		Expect(err).NotTo(HaveOccurred())
		copied, err := os.ReadFile(crdFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(copied)).To(Equal(string(upstream)),
			"files/crds holds %s %s's CRD verbatim, the one test/fleet installs on the hub: copy it again after a bump", crdModule, version)

		objs := renderObjects(ctx, map[string]any{"crds": map[string]any{"install": true}})
		crds := find(objs, "CustomResourceDefinition")
		Expect(crds).To(HaveLen(1))
		rendered := &apiextensionsv1.CustomResourceDefinition{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(crds[0].Object, rendered)).To(Succeed())
		want := &apiextensionsv1.CustomResourceDefinition{}
		Expect(yaml.UnmarshalStrict(upstream, want)).To(Succeed())
		Expect(rendered.Spec).To(Equal(want.Spec), "the chart renders the upstream CRD's spec unchanged")
		Expect(rendered.Name).To(Equal(want.Name))
		Expect(rendered.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		Expect(rendered.Annotations).To(HaveKeyWithValue("apinet-hub.ironcore.dev/cluster-inventory-api-version", version))
		Expect(rendered.Annotations).To(HaveKeyWithValue("controller-gen.kubebuilder.io/version", want.Annotations["controller-gen.kubebuilder.io/version"]))

		By("naming the go.mod version in every pinned command: values.yaml, the helpers, docs/operations.md")
		pinned := regexp.MustCompile(`cluster-inventory-api/(v[^/\s]+)/config/crd`)
		for _, file := range []string{chartDir + "/values.yaml", chartDir + "/templates/_helpers.tpl", operationsDoc} {
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			matches := pinned.FindAllStringSubmatch(string(data), -1)
			if file == chartDir+"/templates/_helpers.tpl" {
				// The helper composes the URL from its version define.
				Expect(string(data)).To(ContainSubstring("{{- define \"apinet-hub.clusterProfileAPIVersion\" -}}\n" + version + "\n"))
				continue
			}
			Expect(matches).NotTo(BeEmpty(), file)
			for _, m := range matches {
				Expect(m[1]).To(Equal(version), "%s pins %s", file, m[0])
			}
		}
	})

	Describe("helm test", func() {
		// testPods are the rendered helm test Pods, by name.
		testPods := func(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
			pods := map[string]*unstructured.Unstructured{}
			for _, o := range find(objs, "Pod") {
				Expect(isHook(o)).To(BeTrue(), "the chart's only Pods are test hooks: %s", o.GetName())
				pods[o.GetName()] = o
			}
			return pods
		}

		It("runs `apinet-hub status --namespace=<fleet namespace>` in a Pod per fleet namespace, under the hub's ServiceAccount and image", func(ctx SpecContext) {
			objs := renderObjects(ctx, nil)
			pods := testPods(objs)
			Expect(pods).To(HaveLen(1))
			Expect(pods).To(HaveKey(testPod))
			pod := pods[testPod]
			Expect(pod.GetNamespace()).To(Equal(hubNamespace))
			Expect(pod.GetAnnotations()).To(Equal(map[string]string{
				"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
			}), "a test hook; deleted when it passes, kept for its log when it fails")
			spec := field(pod, "spec").(map[string]any)
			Expect(spec).To(HaveKeyWithValue("restartPolicy", "Never"))
			Expect(spec).To(HaveKeyWithValue("serviceAccountName", serviceAccount))
			Expect(spec).To(HaveKeyWithValue("automountServiceAccountToken", true), "in-cluster credentials")
			Expect(spec["securityContext"]).To(Equal(podSpec(objs)["securityContext"]))
			containers := spec["containers"].([]any)
			Expect(containers).To(HaveLen(1), "one container: helm test --logs reads the Pod's only container")
			container := containers[0].(map[string]any)
			Expect(container["args"]).To(Equal([]any{"status", "--namespace=fleet", "--output=wide"}))
			Expect(container).NotTo(HaveKey("command"), "the image's entrypoint is apinet-hub")
			Expect(container["image"]).To(Equal(hubContainer(objs)["image"]))
			Expect(container["securityContext"]).To(Equal(hubContainer(objs)["securityContext"]))

			By("being selected by none of the hub's selectors: Deployment, PodDisruptionBudget, Service")
			deployment := find(objs, "Deployment")[0]
			selector, _, _ := unstructured.NestedStringMap(deployment.Object, "spec", "selector", "matchLabels")
			Expect(selector).NotTo(BeEmpty())
			labels := pod.GetLabels()
			matches := true
			for k, v := range selector {
				matches = matches && labels[k] == v
			}
			Expect(matches).To(BeFalse(), "labels %v must not match the hub's selector %v", labels, selector)

			By("being allowed what it does by the release's Role in the fleet namespace")
			Expect(rbacRules(objs)).To(HaveKeyWithValue("Role fleet/hub-apinet-hub-fleet", ContainElement(SatisfyAll(
				HaveField("APIGroups", ContainElement("multicluster.x-k8s.io")), HaveField("Resources", ContainElement("clusterprofiles")),
				HaveField("Verbs", ContainElement("list"))))))
		})

		It("has a Pod per fleet namespace, one without --namespace when the hub watches all, and the ServiceAccount of serviceAccount.name", func(ctx SpecContext) {
			pods := testPods(renderObjects(ctx, map[string]any{"fleetNamespaces": []string{"fleet-a", "fleet-b"}}))
			Expect(pods).To(HaveLen(2))
			for _, ns := range []string{"fleet-a", "fleet-b"} {
				Expect(pods).To(HaveKey("hub-apinet-hub-test-status-" + ns))
				args, _, _ := unstructured.NestedSlice(pods["hub-apinet-hub-test-status-"+ns].Object, "spec", "containers")
				Expect(args[0]).To(HaveKeyWithValue("args", []any{"status", "--namespace=" + ns, "--output=wide"}))
			}

			pods = testPods(renderObjects(ctx, map[string]any{"fleetNamespaces": []string{}}))
			Expect(pods).To(HaveLen(1))
			Expect(pods).To(HaveKey("hub-apinet-hub-test-status"))
			containers, _, _ := unstructured.NestedSlice(pods["hub-apinet-hub-test-status"].Object, "spec", "containers")
			Expect(containers[0]).To(HaveKeyWithValue("args", []any{"status", "--output=wide"}), "every namespace: the ClusterRole allows it")

			pods = testPods(renderObjects(ctx, map[string]any{"serviceAccount": map[string]any{"create": false, "name": "own-hub"}}))
			Expect(field(pods[testPod], "spec", "serviceAccountName")).To(Equal("own-hub"))
		})
	})

	It("gives every alert a runbook_url whose anchor is a heading of docs/operations.md", func(ctx SpecContext) {
		doc, err := os.ReadFile(operationsDoc)
		Expect(err).NotTo(HaveOccurred())
		anchors := headingAnchors(string(doc))
		for _, tc := range []struct{ base, want string }{
			{"", defaultRunbookBase},
			{"https://wiki.example.com/ops/apinet-hub", "https://wiki.example.com/ops/apinet-hub"},
		} {
			rule := map[string]any{"enabled": true}
			if tc.base != "" {
				rule["runbookBaseURL"] = tc.base
			}
			for _, alert := range ruleAlerts(renderObjects(ctx, map[string]any{"prometheusRule": rule})) {
				name := alert["alert"].(string)
				annotations, _ := alert["annotations"].(map[string]any)
				url, _ := annotations["runbook_url"].(string)
				base, anchor, found := strings.Cut(url, "#")
				Expect(found).To(BeTrue(), "%s: runbook_url %q has an anchor", name, url)
				Expect(base).To(Equal(tc.want), name)
				Expect(anchor).To(Equal(strings.ToLower(name)), name)
				Expect(anchors).To(HaveKey(anchor), "%s: docs/operations.md has a heading for #%s (a runbook section)", name, anchor)
			}
		}
		_, err = render(ctx, map[string]any{"prometheusRule": map[string]any{"runbookBaseURL": "https://wiki.example.com/x#y"}})
		Expect(err).To(MatchError(ContainSubstring("at '/prometheusRule/runbookBaseURL'")), "the base has no anchor of its own")
	})

	It("runs as kubectl's plugin: invoked as kubectl-apinet_hub it names itself kubectl apinet-hub", func(ctx SpecContext) {
		binary, err := fleet.BuildHub(ctx)
		Expect(err).NotTo(HaveOccurred())
		dir := GinkgoT().TempDir()
		plugin := filepath.Join(dir, pluginBinary)
		Expect(os.Symlink(binary, plugin)).To(Succeed(), "as make build links it")
		// kubectl runs a plugin by the path it found on PATH: argv[0] is
		// that path.
		run := func(name string, args ...string) (string, error) {
			var out bytes.Buffer
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			return out.String(), err
		}
		out, err := run(plugin, "status", "-h")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("kubectl apinet-hub status [NAME...]"))
		out, err = run(plugin, "-h")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring(`Use "kubectl apinet-hub [command] --help"`))
		out, err = run(plugin, "status", "--no-such-flag")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring("kubectl apinet-hub status: unknown flag: --no-such-flag (see 'kubectl apinet-hub status -h')"))
		version, err := run(plugin, "version")
		Expect(err).NotTo(HaveOccurred(), version)
		same, err := run(binary, "version")
		Expect(err).NotTo(HaveOccurred())
		Expect(version).To(Equal(same), "the same binary")
		out, err = run(binary, "-h")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).NotTo(ContainSubstring("kubectl"), "under its own name it stays apinet-hub")
	})
})

// krewPlugin is the part of krew's Plugin (v1alpha2) that krew requires.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
			Bin string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestKrewManifest checks that plugins/apinet-hub.yaml is a krew Plugin
// with the fields krew requires, for linux and darwin on amd64 and arm64,
// each installing the binary as kubectl-apinet_hub.
func TestKrewManifest(t *testing.T) {
	checkKrewManifest(t, krewManifest, []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"})
}

// checkKrewManifest checks that the manifest at path is a krew Plugin with
// the fields krew requires, for exactly platforms ("os/arch", sorted), each
// installing the binary as kubectl-apinet_hub, and returns it.
func checkKrewManifest(t *testing.T, path string, want []string) krewPlugin {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q, want krew.googlecontainertools.github.com/v1alpha2 Plugin", p.APIVersion, p.Kind)
	}
	// krew links the plugin named apinet-hub as kubectl-apinet_hub.
	if p.Metadata.Name != "apinet-hub" {
		t.Errorf("metadata.name %q, want apinet-hub", p.Metadata.Name)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+`).MatchString(p.Spec.Version) {
		t.Errorf("spec.version %q is no v-prefixed semantic version", p.Spec.Version)
	}
	if !strings.HasPrefix(p.Spec.Homepage, "https://") || p.Spec.ShortDescription == "" || p.Spec.Description == "" {
		t.Errorf("homepage %q, shortDescription %q, description %q: all required", p.Spec.Homepage, p.Spec.ShortDescription, p.Spec.Description)
	}
	var platforms []string
	for _, pl := range p.Spec.Platforms {
		labels := pl.Selector.MatchLabels
		platform := labels["os"] + "/" + labels["arch"]
		platforms = append(platforms, platform)
		if pl.Bin != pluginBinary {
			t.Errorf("%s: bin %q, want %s", platform, pl.Bin, pluginBinary)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(pl.Sha256) {
			t.Errorf("%s: sha256 %q is no SHA-256 in hex", platform, pl.Sha256)
		}
		if !strings.HasPrefix(pl.URI, "https://") || !strings.Contains(pl.URI, p.Spec.Version) ||
			!strings.Contains(pl.URI, "_"+labels["os"]+"_"+labels["arch"]+".") {
			t.Errorf("%s: uri %q: https, of version %s and of its platform", platform, pl.URI, p.Spec.Version)
		}
		if !slices.ContainsFunc(pl.Files, func(f struct {
			From string `json:"from"`
			To   string `json:"to"`
		}) bool {
			return f.To == pl.Bin && f.From != ""
		}) {
			t.Errorf("%s: no files entry puts the binary at %s: %+v", platform, pl.Bin, pl.Files)
		}
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}
	return p
}
