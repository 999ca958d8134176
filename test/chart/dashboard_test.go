package chart

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/apinet-hub/apinet-hub/metrics"
)

// dashboardFile is the Grafana dashboard the chart ships.
const dashboardFile = chartDir + "/dashboards/apinet-hub.json"

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func loadDashboard() *dashboard {
	GinkgoHelper()
	data, err := os.ReadFile(dashboardFile)
	Expect(err).NotTo(HaveOccurred())
	d := &dashboard{}
	Expect(json.Unmarshal(data, d)).To(Succeed(), "%s is JSON", dashboardFile)
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// variableQuery is the query of a query variable, whether Grafana stored
// it as a string or as {"query": ...}.
func variableQuery(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &q)
	return q.Query
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promWord     = regexp.MustCompile(`[A-Za-z0-9_:.]+`)
	// promKeywords are PromQL's binary operators and modifiers.
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "atan2"}
	hubSelector = regexp.MustCompile(`\b(apinet_hub_[a-z_]+)\s*(\{[^}]*\})?`)
	labelValues = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$`)
)

// metricNames returns the metric names a PromQL expression reads: what is
// left once strings, label matchers, ranges and grouping label lists are
// removed, minus numbers, keywords, and functions and aggregations (words
// followed by a parenthesis).
func metricNames(expr string) []string {
	expr = promString.ReplaceAllString(expr, `""`)
	expr = promMatchers.ReplaceAllString(expr, "{}")
	expr = promRange.ReplaceAllString(expr, "[]")
	expr = promGrouping.ReplaceAllString(expr, " ")
	var names []string
	for _, loc := range promWord.FindAllStringIndex(expr, -1) {
		word := expr[loc[0]:loc[1]]
		if word[0] >= '0' && word[0] <= '9' || word[0] == '.' || slices.Contains(promKeywords, word) {
			continue
		}
		if rest := strings.TrimLeft(expr[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		names = append(names, word)
	}
	return names
}

// exported reports whether name is a series the hub exports: a family of
// metrics.Names(), or a histogram's _bucket, _sum or _count series.
func exported(names []string, name string) bool {
	if slices.Contains(names, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(names, base) {
			return true
		}
	}
	return false
}

var _ = Describe("The Grafana dashboard", func() {
	It("is a Grafana 10+ dashboard whose panels all query the selected data source", func() {
		d := loadDashboard()
		Expect(d.SchemaVersion).To(BeNumerically(">=", 38), "Grafana 10 writes schemaVersion 38 and later")
		Expect(d.UID).To(Equal("apinet-hub"))
		ids := map[int]string{}
		for _, p := range allPanels(d.Panels) {
			Expect(ids).NotTo(HaveKey(p.ID), "panel %q reuses id %d of %q", p.Title, p.ID, ids[p.ID])
			ids[p.ID] = p.Title
			Expect(p.GridPos.X+p.GridPos.W).To(BeNumerically("<=", 24), "panel %q fits the 24-column grid", p.Title)
			if p.Type == "row" {
				continue
			}
			Expect(p.Datasource).NotTo(BeNil(), "panel %q", p.Title)
			Expect(p.Datasource.UID).To(Equal("${datasource}"), "panel %q uses the datasource variable", p.Title)
			Expect(p.Targets).NotTo(BeEmpty(), "panel %q", p.Title)
		}
	})

	It("has a data source variable and the variables peer and cluster, from apinet_hub_cluster_engaged", func() {
		vars := map[string]string{}
		for _, v := range loadDashboard().Templating.List {
			vars[v.Name] = v.Type
			if v.Name == "peer" || v.Name == "cluster" {
				Expect(variableQuery(v.Query)).To(HavePrefix("label_values(apinet_hub_cluster_engaged"), "variable %s", v.Name)
			}
		}
		Expect(vars).To(HaveKeyWithValue("datasource", "datasource"))
		Expect(vars).To(HaveKeyWithValue("peer", "query"))
		Expect(vars).To(HaveKeyWithValue("cluster", "query"))
	})

	It("queries only metrics the hub exports, and shows every apinet_hub metric", func() {
		names := metrics.Names()
		used := map[string]bool{}
		d := loadDashboard()
		for _, p := range allPanels(d.Panels) {
			for _, t := range p.Targets {
				found := metricNames(t.Expr)
				Expect(found).NotTo(BeEmpty(), "panel %q: %s reads no metric", p.Title, t.Expr)
				for _, name := range found {
					Expect(exported(names, name)).To(BeTrue(), "panel %q queries %s, which metrics.Names() does not list: %s", p.Title, name, t.Expr)
					used[strings.TrimSuffix(name, "_bucket")] = true
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(variableQuery(v.Query))
			Expect(m).NotTo(BeNil(), "variable %s is label_values(<metric>, <label>): %s", v.Name, variableQuery(v.Query))
			Expect(exported(names, m[1])).To(BeTrue(), "variable %s reads %s", v.Name, m[1])
		}
		for _, name := range names {
			if strings.HasPrefix(name, "apinet_hub_") {
				Expect(used).To(HaveKey(name), "no panel shows %s", name)
			}
		}
	})

	It("narrows every per-cluster query to the selected members or peers", func() {
		for _, p := range allPanels(loadDashboard().Panels) {
			for _, t := range p.Targets {
				for _, m := range hubSelector.FindAllStringSubmatch(t.Expr, -1) {
					Expect(m[2]).To(Or(ContainSubstring("$cluster"), ContainSubstring("$peer")),
						"panel %q: %s has cluster and peer labels and must match $cluster or $peer: %s", p.Title, m[1], t.Expr)
				}
			}
		}
	})
})

var _ = DescribeTable("metricNames reads the metric names of a PromQL expression",
	func(expr string, want []string) {
		Expect(metricNames(expr)).To(Equal(want))
	},
	Entry("a selector", `apinet_hub_cluster_engaged{cluster=~"$cluster"}`, []string{"apinet_hub_cluster_engaged"}),
	Entry("an aggregation with grouping and a range",
		`sum by (cluster, le) (rate(apinet_hub_reconcile_duration_seconds_bucket{cluster=~"a|b"}[$__rate_interval]))`,
		[]string{"apinet_hub_reconcile_duration_seconds_bucket"}),
	Entry("grouping after the aggregation, numbers, and a binary operation",
		`histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le)) / clamp_min(sum(y_total), 1e-9) * 60`,
		[]string{"x_bucket", "y_total"}),
	Entry("keywords and functions without selectors",
		`count(up == 0) or vector(0) and on (instance) group_left (pod) kube_pod_info`,
		[]string{"up", "kube_pod_info"}),
	Entry("a bare metric name", `process_resident_memory_bytes`, []string{"process_resident_memory_bytes"}),
	Entry("strings with braces and parentheses", `label_replace(m, "dst", "$1 (x)", "src", "{(.*)}")`, []string{"m"}),
)
