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
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Repeat      string `json:"repeat"` // the variable a row (or panel) repeats by
	Datasource  *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
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

// dashboardRow is a row and the panels in it: a collapsed row's own panels,
// or those after an expanded row up to the next row.
type dashboardRow struct {
	row    panel
	panels []panel
}

// rows groups the top-level panels by row; panels above the first row are
// in a row of zero value.
func rows(ps []panel) []dashboardRow {
	var out []dashboardRow
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, dashboardRow{row: p, panels: p.Panels})
			continue
		}
		if len(out) == 0 {
			out = append(out, dashboardRow{})
		}
		out[len(out)-1].panels = append(out[len(out)-1].panels, p)
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
	labelValues = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	// clusterLabel is the label the hub no longer has (member and peer
	// replaced it), in an expression whose strings are blanked, and in a
	// legend.
	clusterLabel  = regexp.MustCompile(`\bcluster\b`)
	clusterLegend = regexp.MustCompile(`\{\{\s*cluster\s*\}\}`)
	// peerMembers narrows a metric with a member but no peer label to the
	// members of the selected peers: `and on (..., member, ...)
	// apinet_hub_cluster_engaged{..., peer=~"$peer", ...}`.
	peerMembers = regexp.MustCompile(`\band\s+on\s*\([^)]*\bmember\b[^)]*\)\s*apinet_hub_cluster_engaged\s*\{[^}]*\bpeer\s*=~\s*"\$peer"`)
)

// fleetWide are the hub's metric families with neither a member nor a peer
// label.
var fleetWide = []string{"apinet_hub_build_info", "apinet_hub_reconcile_duration_seconds", "apinet_hub_mapping_latency_by_kind_seconds"}

// overMembers are the fleet-wide families that sum observations of every
// member: the member and peer selections do not apply to their panels, and
// the panels say so ("fleet-wide" in the title or description).
var overMembers = []string{"apinet_hub_reconcile_duration_seconds", "apinet_hub_mapping_latency_by_kind_seconds"}

// family is the metric family of a series name: a histogram's _bucket, _sum
// and _count series belong to the histogram.
func family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(metrics.Names(), base) {
			return base
		}
	}
	return name
}

// blank replaces each match of re in s by spaces, keeping its first and
// last character if keepEnds, so that offsets into s stay valid.
func blank(s string, re *regexp.Regexp, keepEnds bool) string {
	return re.ReplaceAllStringFunc(s, func(m string) string {
		if keepEnds && len(m) >= 2 {
			return m[:1] + strings.Repeat(" ", len(m)-2) + m[len(m)-1:]
		}
		return strings.Repeat(" ", len(m))
	})
}

// selector is a metric a PromQL expression reads, with its label matchers
// ("{...}", or "" without).
type selector struct{ name, matchers string }

// selectors returns the metrics a PromQL expression reads: the words left
// once strings, label matchers, ranges and grouping label lists are blanked,
// minus numbers, keywords, and functions and aggregations (words followed by
// a parenthesis); each with the label matchers that follow it.
func selectors(expr string) []selector {
	masked := blank(expr, promString, true)
	masked = blank(masked, promMatchers, true)
	masked = blank(masked, promRange, true)
	masked = blank(masked, promGrouping, false)
	var out []selector
	for _, loc := range promWord.FindAllStringIndex(masked, -1) {
		word := masked[loc[0]:loc[1]]
		if word[0] >= '0' && word[0] <= '9' || word[0] == '.' || slices.Contains(promKeywords, word) {
			continue
		}
		rest := strings.TrimLeft(masked[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		s := selector{name: word}
		if strings.HasPrefix(rest, "{") {
			start := len(masked) - len(rest)
			s.matchers = expr[start : start+strings.IndexByte(rest, '}')+1]
		}
		out = append(out, s)
	}
	return out
}

// metricNames returns the metric names a PromQL expression reads.
func metricNames(expr string) []string {
	var names []string
	for _, s := range selectors(expr) {
		names = append(names, s.name)
	}
	return names
}

// narrowed reports whether label matchers ("{...}") hold label=~"$label",
// the dashboard variable of the same name.
func narrowed(matchers, label string) bool {
	return regexp.MustCompile(`[{,]\s*` + label + `\s*=~\s*"\$(?:` + label + `|\{` + label + `\})"`).MatchString(matchers)
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

	It("has a data source variable, job and namespace from apinet_hub_build_info, and peer and member from apinet_hub_cluster_engaged", func() {
		vars := map[string]variable{}
		for _, v := range loadDashboard().Templating.List {
			vars[v.Name] = v
		}
		Expect(vars).To(HaveKey("datasource"))
		Expect(vars["datasource"].Type).To(Equal("datasource"))
		Expect(vars).NotTo(HaveKey("cluster"), "member and peer replaced the cluster label")
		for _, want := range []struct {
			name, metric string
			matchers     []string // the variables and role the query is narrowed by
		}{
			{"job", "apinet_hub_build_info", nil},
			{"namespace", "apinet_hub_build_info", []string{`job=~"$job"`}},
			{"peer", "apinet_hub_cluster_engaged", []string{`job=~"$job"`, `namespace=~"$namespace"`, `role="apinet"`}},
			{"member", "apinet_hub_cluster_engaged", []string{`job=~"$job"`, `namespace=~"$namespace"`, `role="ironcore"`, `peer=~"$peer"`}},
		} {
			Expect(vars).To(HaveKey(want.name))
			v := vars[want.name]
			Expect(v.Type).To(Equal("query"), "variable %s", v.Name)
			Expect(v.Multi && v.IncludeAll).To(BeTrue(), "variable %s selects several values and All", v.Name)
			m := labelValues.FindStringSubmatch(variableQuery(v.Query))
			Expect(m).NotTo(BeNil(), "variable %s is label_values(<metric>, <label>): %s", v.Name, variableQuery(v.Query))
			Expect(m[1]).To(Equal(want.metric), "variable %s", v.Name)
			Expect(m[3]).To(Equal(want.name), "variable %s lists the values of its label", v.Name)
			for _, matcher := range want.matchers {
				Expect(m[2]).To(ContainSubstring(matcher), "variable %s", v.Name)
			}
		}
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

	It("narrows every query to the selected job and namespace", func() {
		for _, p := range allPanels(loadDashboard().Panels) {
			for _, t := range p.Targets {
				for _, s := range selectors(t.Expr) {
					Expect(narrowed(s.matchers, "job") && narrowed(s.matchers, "namespace")).To(BeTrue(),
						"panel %q: %s must match job=~\"$job\" and namespace=~\"$namespace\": %s", p.Title, s.name, t.Expr)
				}
			}
		}
	})

	It("narrows every query of a member's or a peer's metric to the selected members or peers", func() {
		for _, p := range allPanels(loadDashboard().Panels) {
			for _, t := range p.Targets {
				for _, s := range selectors(t.Expr) {
					if !strings.HasPrefix(s.name, "apinet_hub_") || slices.Contains(fleetWide, family(s.name)) {
						continue
					}
					Expect(narrowed(s.matchers, "member") || narrowed(s.matchers, "peer")).To(BeTrue(),
						"panel %q: %s has member and peer labels and must match $member or $peer: %s", p.Title, s.name, t.Expr)
				}
			}
		}
	})

	It("shows the fleet-wide metrics outside the peer rows, and says fleet-wide where they sum over members", func() {
		shown := map[string]bool{}
		for _, r := range rows(loadDashboard().Panels) {
			for _, p := range r.panels {
				for _, t := range p.Targets {
					for _, s := range selectors(t.Expr) {
						name := family(s.name)
						if !slices.Contains(fleetWide, name) {
							continue
						}
						shown[name] = true
						Expect(r.row.Repeat).To(BeEmpty(), "panel %q of row %q: %s is fleet-wide, the same in every peer's row: %s", p.Title, r.row.Title, name, t.Expr)
						if slices.Contains(overMembers, name) {
							Expect(p.Title+" "+p.Description).To(ContainSubstring("fleet-wide"),
								"panel %q sums %s over every member, whatever members and peers are selected: say so", p.Title, name)
						}
					}
				}
			}
		}
		for _, name := range fleetWide {
			Expect(shown).To(HaveKey(name), "no panel shows %s", name)
		}
	})

	It("uses no cluster label", func() {
		d := loadDashboard()
		for _, p := range allPanels(d.Panels) {
			for _, t := range p.Targets {
				Expect(clusterLabel.MatchString(blank(t.Expr, promString, true))).To(BeFalse(), "panel %q: %s", p.Title, t.Expr)
				Expect(clusterLegend.MatchString(t.LegendFormat)).To(BeFalse(), "panel %q: legend %s", p.Title, t.LegendFormat)
			}
		}
		for _, v := range d.Templating.List {
			Expect(clusterLabel.MatchString(blank(variableQuery(v.Query), promString, true))).To(BeFalse(), "variable %s", v.Name)
		}
	})

	It("repeats a row per peer, narrowed to the peer's members, besides the fleet's Health and Hub process rows", func() {
		repeated := 0
		fleet := map[string]string{}
		for _, r := range rows(loadDashboard().Panels) {
			if r.row.Repeat != "peer" {
				fleet[r.row.Title] = r.row.Repeat
				continue
			}
			repeated++
			Expect(r.row.Title).To(ContainSubstring("$peer"), "a repeated row names its peer")
			Expect(r.panels).NotTo(BeEmpty(), "row %q", r.row.Title)
			for _, p := range r.panels {
				Expect(p.Repeat).To(BeEmpty(), "panel %q of row %q repeats by its row", p.Title, r.row.Title)
				for _, t := range p.Targets {
					for _, s := range selectors(t.Expr) {
						Expect(narrowed(s.matchers, "peer") || peerMembers.MatchString(t.Expr)).To(BeTrue(),
							"panel %q of row %q: %s must match $peer, or be joined `and on (member)` with apinet_hub_cluster_engaged{peer=~\"$peer\"}: %s",
							p.Title, r.row.Title, s.name, t.Expr)
					}
				}
			}
		}
		Expect(repeated).To(BeNumerically(">", 0), "a row repeats by peer")
		Expect(fleet).To(HaveKeyWithValue("Health", ""))
		Expect(fleet).To(HaveKeyWithValue("Hub process", ""))
	})
})

var _ = DescribeTable("metricNames reads the metric names of a PromQL expression",
	func(expr string, want []string) {
		Expect(metricNames(expr)).To(Equal(want))
	},
	Entry("a selector", `apinet_hub_cluster_engaged{member=~"$member"}`, []string{"apinet_hub_cluster_engaged"}),
	Entry("an aggregation with grouping and a range",
		`sum by (member, le) (rate(apinet_hub_mapping_latency_seconds_bucket{member=~"a|b"}[$__rate_interval]))`,
		[]string{"apinet_hub_mapping_latency_seconds_bucket"}),
	Entry("grouping after the aggregation, numbers, and a binary operation",
		`histogram_quantile(0.99, sum(rate(x_bucket[5m])) by (le)) / clamp_min(sum(y_total), 1e-9) * 60`,
		[]string{"x_bucket", "y_total"}),
	Entry("keywords and functions without selectors",
		`count(up == 0) or vector(0) and on (instance) group_left (pod) kube_pod_info`,
		[]string{"up", "kube_pod_info"}),
	Entry("a bare metric name", `process_resident_memory_bytes`, []string{"process_resident_memory_bytes"}),
	Entry("strings with braces and parentheses", `label_replace(m, "dst", "$1 (x)", "src", "{(.*)}")`, []string{"m"}),
)

var _ = DescribeTable("selectors reads each metric with its label matchers",
	func(expr string, want []selector) {
		Expect(selectors(expr)).To(Equal(want))
	},
	Entry("a bare name and a selector", `a / b{job=~"$job"}`, []selector{{"a", ""}, {"b", `{job=~"$job"}`}}),
	Entry("a join, and a matcher with a brace in its string",
		`sum by (member) (q{x="}", member=~"$member"} and on (job, member) e {peer=~"$peer"})`,
		[]selector{{"q", `{x="}", member=~"$member"}`}, {"e", `{peer=~"$peer"}`}}),
)

var _ = DescribeTable("narrowed finds label=~\"$label\" in label matchers",
	func(matchers, label string, want bool) {
		Expect(narrowed(matchers, label)).To(Equal(want))
	},
	Entry("first", `{peer=~"$peer", role="apinet"}`, "peer", true),
	Entry("later, braced", `{role="apinet",peer=~"${peer}"}`, "peer", true),
	Entry("another label's variable", `{member=~"$peer"}`, "peer", false),
	Entry("a label ending in the name", `{xpeer=~"$peer"}`, "peer", false),
	Entry("an equality", `{peer="$peer"}`, "peer", false),
	Entry("none", ``, "peer", false),
)
