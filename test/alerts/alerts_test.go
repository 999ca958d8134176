// Package alerts tests the Prometheus alert rules of apinet-hub,
// charts/apinet-hub/files/alerts.yaml: promtool accepts them (`promtool
// check rules`) and passes their unit tests (`promtool test rules
// test/alerts/*.yaml`), every alert has a case that fires and one that does
// not, every metric they select is one the hub exports (metrics.Names()),
// and the chart's PrometheusRule holds exactly the file's rules with the job
// selector substituted.
//
// It runs promtool and helm of the servers folder ($APINET_HUB_SERVERS,
// which the Makefile sets, or bin/servers) and fails when they are missing:
// `make servers` builds them.
package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/apinet-hub/apinet-hub/metrics"
)

const (
	// rulesFile is the rules file, relative to the repository's root.
	rulesFile = "charts/apinet-hub/files/alerts.yaml"
	chartDir  = "charts/apinet-hub"
	// fileSelector is the job selector the file is written with; the chart
	// replaces it by prometheusRule.jobSelector.
	fileSelector = `job="apinet-hub"`
	// runbookBase is the base of every runbook_url in the file, the docs on
	// GitHub; the chart replaces it by prometheusRule.runbookBaseURL.
	runbookBase = "https://github.com/apinet-hub/apinet-hub/blob/main/docs/operations.md"
	// clusterProfileAPI makes helm template render as for a cluster that
	// serves ClusterProfiles (the chart fails without it).
	clusterProfileAPI = "multicluster.x-k8s.io/v1alpha1/ClusterProfile"
)

// alertNames are the alerts docs/operations.md documents.
var alertNames = []string{
	"ApinetHubMemberNotEngaged", "ApinetHubPeerUnusable", "ApinetHubReconcileErrors", "ApinetHubMappingSlow",
	"ApinetHubObjectsUnmapped", "ApinetHubDeletionsHeld", "ApinetHubNATShortOfPublicIPs",
	"ApinetHubCredentialExpiringSoon", "ApinetHubCredentialExpiryImminent", "ApinetHubNoLeader", "ApinetHubAbsent",
}

// repoRoot is the repository's root: this package is test/alerts.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// server returns the path of a binary of the servers folder, failing the
// test when it is missing.
func server(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("APINET_HUB_SERVERS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "bin", "servers")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run make servers (or hack/install-servers.sh --dest %s prometheus helm): %v", path, dir, err)
	}
	return path
}

// run runs a command in the repository's root and returns its combined
// output, failing the test with it when the command fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func readRules(t *testing.T) (string, ruleGroups) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var groups ruleGroups
	if err := yaml.Unmarshal(data, &groups); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return string(data), groups
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := server(t, "promtool")
	t.Log(run(t, nil, promtool, "check", "rules", rulesFile))
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := server(t, "promtool")
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "test", "alerts", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test/alerts/*.yaml: %v", err)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(repoRoot(t), f)
	}
	t.Log(run(t, nil, promtool, append([]string{"test", "rules"}, files...)...))
}

// TestRulesConventions checks what promtool does not: the alert set, the
// labels and annotations every alert carries, the job selector in every
// expression, and that the unit tests hold a firing and a quiet case of
// every alert.
func TestRulesConventions(t *testing.T) {
	_, groups := readRules(t)
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			}
			if r.For == "" {
				t.Errorf("%s: no for", r.Alert)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", r.Alert)
			}
			if !strings.Contains(r.Annotations["description"], "docs/operations.md") {
				t.Errorf("%s: the description does not point to docs/operations.md: %q", r.Alert, r.Annotations["description"])
			}
			if !strings.Contains(r.Expr, fileSelector) {
				t.Errorf("%s: the expression has no %s for the chart to substitute: %s", r.Alert, fileSelector, r.Expr)
			}
			// test/chart checks that docs/operations.md has the anchor.
			if want := runbookBase + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			for k := range r.Annotations {
				if k != "summary" && k != "description" && k != "runbook_url" {
					t.Errorf("%s: annotation %s: only summary, description and runbook_url", r.Alert, k)
				}
			}
		}
	}
	if !slices.Equal(names, alertNames) {
		t.Errorf("alerts %v, want %v (update docs/operations.md and the tests with them)", names, alertNames)
	}

	type testFile struct {
		Tests []struct {
			Name           string `json:"name"`
			AlertRuleTests []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	firing, quiet := map[string]int{}, map[string]int{}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf testFile
		if err := yaml.Unmarshal(data, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTests {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname]++
				} else {
					quiet[a.Alertname]++
				}
			}
		}
	}
	for _, name := range alertNames {
		if firing[name] == 0 || quiet[name] == 0 {
			t.Errorf("%s: %d cases where it fires and %d where it must not, want at least one of each", name, firing[name], quiet[name])
		}
	}
}

// selector matches the metric name of a PromQL vector selector with label
// matchers (every selector of the rules has some, at least the job's), not
// a word before a template action ("unknown{{ end }}").
var selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{[^{]`)

// TestRulesQueryExportedMetrics checks that every metric the rules and their
// annotations' queries select is one the hub exports (metrics.Names(), or
// a histogram's _bucket series), or Prometheus' up.
func TestRulesQueryExportedMetrics(t *testing.T) {
	_, groups := readRules(t)
	names := metrics.Names()
	exported := func(name string) bool {
		base, _ := strings.CutSuffix(name, "_bucket")
		return name == "up" || slices.Contains(names, name) || slices.Contains(names, base)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			for _, text := range []string{r.Expr, r.Annotations["summary"], r.Annotations["description"]} {
				for _, m := range selector.FindAllStringSubmatch(text, -1) {
					if !exported(m[1]) {
						t.Errorf("%s selects %s, which metrics.Names() does not list", r.Alert, m[1])
					}
				}
			}
		}
	}
}

// TestChartPrometheusRule renders the chart's PrometheusRule and compares its
// spec with the rules file, the job selector substituted in every string.
func TestChartPrometheusRule(t *testing.T) {
	helm := server(t, "helm")
	promtool := server(t, "promtool")
	text, _ := readRules(t)
	var file map[string]any
	if err := yaml.Unmarshal([]byte(text), &file); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, tc := range []struct {
		name, jobSelector, want, runbookBaseURL string
		// credentialExpiry: prometheusRule.credentialExpiry, replacing
		// the day counts of the credential expiry alerts.
		credentialExpiry map[string]any
	}{
		{"default: the job of the metrics Service", "", `job="hub-apinet-hub-metrics"`, "", nil},
		{"prometheusRule.jobSelector and runbookBaseURL and credentialExpiry", `job=~"apinet-hub|hub-b", namespace="ops"`, `job=~"apinet-hub|hub-b", namespace="ops"`,
			"https://wiki.example.com/ops/apinet-hub", map[string]any{"warningDays": 30, "criticalDays": 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := map[string]any{"enabled": true, "jobSelector": tc.jobSelector}
			if tc.runbookBaseURL != "" {
				rule["runbookBaseURL"] = tc.runbookBaseURL
			}
			if tc.credentialExpiry != nil {
				rule["credentialExpiry"] = tc.credentialExpiry
			}
			values := map[string]any{"prometheusRule": rule}
			valuesFile := filepath.Join(t.TempDir(), "values.json")
			data, _ := json.Marshal(values) // JSON is YAML
			if err := os.WriteFile(valuesFile, data, 0o600); err != nil {
				t.Fatal(err)
			}
			home := t.TempDir()
			out := run(t, []string{"HELM_CONFIG_HOME=" + home, "HELM_CACHE_HOME=" + home, "HELM_DATA_HOME=" + home},
				helm, "template", "hub", chartDir, "--namespace", "apinet-hub", "--values", valuesFile, "--api-versions", clusterProfileAPI,
				"--show-only", "templates/prometheusrule.yaml")

			var rendered struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(out), &rendered); err != nil {
				t.Fatalf("the rendered PrometheusRule: %v\n%s", err, out)
			}
			// Decoded like the file (numbers as int64), for the comparison.
			var object map[string]any
			if err := yaml.Unmarshal([]byte(out), &object); err != nil {
				t.Fatal(err)
			}
			spec, _ := object["spec"].(map[string]any)
			if rendered.APIVersion != "monitoring.coreos.com/v1" || rendered.Kind != "PrometheusRule" ||
				rendered.Metadata.Name != "hub-apinet-hub" || rendered.Metadata.Namespace != "apinet-hub" {
				t.Fatalf("rendered %s %s %s/%s, want monitoring.coreos.com/v1 PrometheusRule apinet-hub/hub-apinet-hub",
					rendered.APIVersion, rendered.Kind, rendered.Metadata.Namespace, rendered.Metadata.Name)
			}

			want := substitute(file, fileSelector, tc.want)
			if tc.runbookBaseURL != "" {
				want = substitute(want, runbookBase+"#", tc.runbookBaseURL+"#")
			}
			if tc.credentialExpiry != nil {
				want = substitute(want, "< 14 * 86400", fmt.Sprintf("< %v * 86400", tc.credentialExpiry["warningDays"]))
				want = substitute(want, "< 1 * 24 * 3600", fmt.Sprintf("< %v * 24 * 3600", tc.credentialExpiry["criticalDays"]))
			}
			if !reflect.DeepEqual(spec, want) {
				got, _ := json.MarshalIndent(spec, "", "  ")
				exp, _ := json.MarshalIndent(want, "", "  ")
				t.Fatalf("the PrometheusRule's spec differs from %s:\ngot:\n%s\nwant:\n%s", rulesFile, got, exp)
			}
			specJSON, _ := json.Marshal(spec)
			var groups ruleGroups
			if err := json.Unmarshal(specJSON, &groups); err != nil {
				t.Fatal(err)
			}
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					if !strings.Contains(r.Expr, tc.want) || strings.Contains(r.Expr, fileSelector) && !strings.Contains(tc.want, fileSelector) {
						t.Errorf("%s: expression %q, want the selector %s only", r.Alert, r.Expr, tc.want)
					}
				}
			}

			// The substituted rules are valid rules still.
			rules := filepath.Join(t.TempDir(), "rendered-rules.yaml")
			if err := os.WriteFile(rules, specJSON, 0o600); err != nil { // JSON is YAML
				t.Fatal(err)
			}
			run(t, nil, promtool, "check", "rules", rules)
		})
	}
}

// substitute returns a copy of v with new instead of old in every string.
func substitute(v any, old, new string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = substitute(e, old, new)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = substitute(e, old, new)
		}
		return out
	case string:
		return strings.ReplaceAll(v, old, new)
	default:
		return v
	}
}
