package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

const (
	// alertsFile is the one source of the hub's alert rules.
	alertsFile = "../../charts/apinet-hub/files/alerts.yaml"
	// dashboardFile is the Grafana dashboard the chart ships.
	dashboardFile = "../../charts/apinet-hub/dashboards/apinet-hub.json"
	// promJob is the scrape job of the hub: the rules file's own selector.
	promJob = "apinet-hub"
	// alertFor replaces every `for:` of the rules in this case (5m and 15m
	// in production), so that pending → firing takes seconds.
	alertFor = 10 * time.Second
)

// dashboardQueries returns every panel query of the dashboard ("title: expr")
// with its variables filled in as "All" would: every job, namespace, peer and
// member.
func dashboardQueries() map[string]string {
	GinkgoHelper()
	raw, err := os.ReadFile(dashboardFile)
	Expect(err).NotTo(HaveOccurred())
	type panel struct {
		Title   string                  `json:"title"`
		Targets []struct{ Expr string } `json:"targets"`
		Panels  []json.RawMessage       `json:"panels"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
	}
	Expect(json.Unmarshal(raw, &d)).To(Succeed())
	fill := strings.NewReplacer(`"$job"`, `"`+promJob+`"`, `"$namespace"`, `".*"`, `"$peer"`, `".*"`, `"$member"`, `".*"`,
		"$__rate_interval", "30s", "$__interval", "5s", "$__range", "1m")
	out := map[string]string{}
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			Expect(json.Unmarshal(r, &p)).To(Succeed())
			for i, t := range p.Targets {
				if t.Expr != "" {
					out[fmt.Sprintf("%s #%d", p.Title, i+1)] = fill.Replace(t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	Expect(out).NotTo(BeEmpty())
	for title, q := range out {
		Expect(q).NotTo(ContainSubstring("$"), "%s: every variable is filled in", title)
	}
	return out
}

// groupedBy tells whether a query's outer aggregation keeps a label.
var groupedBy = regexp.MustCompile(`\bby \(([^)]*)\)`)

func groups(q, label string) bool {
	for _, m := range groupedBy.FindAllStringSubmatch(q, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if strings.TrimSpace(l) == label {
				return true
			}
		}
	}
	return false
}

// coverage is what the dashboard's queries returned, over the phases of the
// case: per query, the member and peer label values of its series.
type coverage struct {
	series         map[string]int
	members, peers map[string]map[string]bool
}

func (c *coverage) observe(ctx context.Context, prom *fleet.Prometheus, queries map[string]string) {
	GinkgoHelper()
	for title, q := range queries {
		samples, err := prom.Query(ctx, q)
		Expect(err).NotTo(HaveOccurred(), "%s: %s", title, q)
		c.series[title] += len(samples)
		for _, s := range samples {
			if v := s.Labels["member"]; v != "" {
				c.members[title][v] = true
			}
			if v := s.Labels["peer"]; v != "" {
				c.peers[title][v] = true
			}
		}
	}
}

// alertState is the state of an alert for a label set ("" if none).
func alertState(ctx context.Context, prom *fleet.Prometheus, name, label, value string) string {
	alerts, err := prom.Alerts(ctx)
	if err != nil {
		return "error: " + err.Error()
	}
	for _, a := range alerts {
		if a.Name == name && a.Labels[label] == value {
			return a.State
		}
	}
	return ""
}

var _ = Describe("A real Prometheus scraping the hub", func() {
	It("answers every dashboard query for every member and peer, loads every alert rule, and fires and clears the member-down alert", func(ctx SpecContext) {
		// A hub of its own, leader-elected as in production (the leader
		// panels), in place of the suite's.
		Expect(hub.stop()).To(Succeed())
		DeferCleanup(func() { Expect(hub.start()).To(Succeed()) })
		own, err := fleet.StartHub(fleet.HubOptions{Binary: hub.binary, Kubeconfig: hub.kubeconfig, Namespace: profileNamespace, Log: hub.log,
			Args: append(slices.Clone(hubArgs), "--leader-elect", "--leader-election-namespace="+profileNamespace)})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = own.Stop(30 * time.Second) })
		// Its own metrics say when it leads and has engaged the members (the
		// profiles' conditions may still be the suite hub's).
		for _, m := range faultMembers {
			Eventually(own.Scrape).WithContext(ctx).Should(ContainSubstring(
				`apinet_hub_cluster_engaged{member="` + m.label() + `",peer="` + clusterprofiles.LabelValue(clusterprofiles.ClusterName(types.NamespacedName{Namespace: profileNamespace, Name: peer.Name})) + `",role="ironcore"} 1`))
		}
		dir := GinkgoT().TempDir()
		rules, err := os.ReadFile(alertsFile)
		Expect(err).NotTo(HaveOccurred())
		short := regexp.MustCompile(`(?m)^(\s+for:) \S+$`).ReplaceAll(rules, []byte("${1} "+alertFor.String()))
		Expect(short).NotTo(Equal(rules))
		rulesPath := filepath.Join(dir, "alerts.yaml")
		Expect(os.WriteFile(rulesPath, short, 0o600)).To(Succeed())
		metricsAddr := own.MetricsAddr
		prom, err := fleet.StartPrometheus(ctx, fleet.PrometheusOptions{
			Dir: filepath.Join(dir, "prometheus"), RuleFiles: []string{rulesPath},
			Targets: []fleet.ScrapeTarget{{Job: promJob, Address: metricsAddr}},
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(prom.Stop)

		By("mapping a Network and a VirtualIP in every member, so that every per-member panel has data")
		for _, m := range faultMembers {
			Expect(m.cluster.Client().Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNamespace, Name: "prom-net"}})).To(Succeed())
			Expect(m.cluster.Client().Create(ctx, publicVIP("prom-vip"))).To(Succeed())
		}
		// The hub is new: its fleet-wide count is this case's VirtualIPs.
		Eventually(func() (float64, error) {
			samples, err := prom.Query(ctx, `sum(apinet_hub_mapping_latency_by_kind_seconds_count{kind="virtualip"})`)
			if err != nil || len(samples) == 0 {
				return 0, err
			}
			return samples[0].Value, nil
		}).Should(BeNumerically(">=", len(faultMembers)))
		Eventually(func() ([]fleet.Sample, error) {
			return prom.Query(ctx, `apinet_hub_mapping_latency_seconds_count`)
		}).Should(HaveLen(len(faultMembers)), "the per-member mapping latency of every member")

		By("loading every alert rule")
		Eventually(func(g Gomega) {
			groups, err := prom.Rules(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			n := 0
			for _, grp := range groups {
				for _, r := range grp.Rules {
					n++
					g.Expect(r.Health).To(Equal("ok"), "rule %s: %s", r.Name, r.LastError)
				}
			}
			g.Expect(n).To(BeNumerically(">=", 7))
		}).Should(Succeed())

		queries := dashboardQueries()
		c := &coverage{series: map[string]int{}, members: map[string]map[string]bool{}, peers: map[string]map[string]bool{}}
		for title := range queries {
			c.members[title], c.peers[title] = map[string]bool{}, map[string]bool{}
		}
		By("evaluating the dashboard on a healthy fleet")
		time.Sleep(5 * time.Second) // rate windows need a few scrapes
		c.observe(ctx, prom, queries)

		By("stopping a member's API servers: the member-down alert goes pending, then firing")
		victim := faultMembers[0]
		stopped := time.Now()
		Expect(victim.cluster.Stop()).To(Succeed())
		DeferCleanup(func() { _ = victim.cluster.Start() })
		Eventually(func() string { return alertState(ctx, prom, "ApinetHubMemberNotEngaged", "member", victim.label()) }, time.Minute, 100*time.Millisecond).
			Should(Equal("pending"))
		pending := time.Since(stopped)
		Eventually(func() string { return alertState(ctx, prom, "ApinetHubMemberNotEngaged", "member", victim.label()) }, time.Minute, 100*time.Millisecond).
			Should(Equal("firing"))
		firing := time.Since(stopped)
		alerts, err := prom.Alerts(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, a := range alerts {
			if a.Name == "ApinetHubMemberNotEngaged" && a.Labels["member"] == victim.label() {
				Expect(a.Annotations["description"]).To(MatchRegexp(`reason: (Paused|Unreachable|APIUnavailable)`), "the description names the reason")
			}
		}
		c.observe(ctx, prom, queries)

		By("starting them again: the alert clears")
		Expect(victim.cluster.Start()).To(Succeed())
		restarted := time.Now()
		Eventually(func() string { return alertState(ctx, prom, "ApinetHubMemberNotEngaged", "member", victim.label()) }, 2*time.Minute, 100*time.Millisecond).
			Should(BeEmpty())
		cleared := time.Since(restarted)

		By("stopping the peer: the peer alert goes pending and its members' panels show it")
		peerLabel := clusterprofiles.LabelValue(clusterprofiles.ClusterName(types.NamespacedName{Namespace: profileNamespace, Name: peer.Name}))
		Expect(peer.Stop()).To(Succeed())
		DeferCleanup(func() { _ = peer.Start() })
		Eventually(func() string { return alertState(ctx, prom, "ApinetHubPeerUnusable", "peer", peerLabel) }, time.Minute, 100*time.Millisecond).Should(Or(Equal("pending"), Equal("firing")))
		time.Sleep(3 * time.Second) // counters born with the outage need two scrapes for rate()
		c.observe(ctx, prom, queries)
		Expect(peer.Start()).To(Succeed())
		for _, m := range faultMembers {
			Eventually(func() string { return engagedReason(ctx, m.name()) }, 2*time.Minute).Should(Equal(clusterprofiles.ReasonEngaged))
		}

		AddReportEntry("member stopped → ApinetHubMemberNotEngaged pending", pending.Round(time.Millisecond).String())
		AddReportEntry(fmt.Sprintf("member stopped → firing (for: %s)", alertFor), firing.Round(time.Millisecond).String())
		AddReportEntry("member started → alert cleared", cleared.Round(time.Millisecond).String())

		By("finding series of every member and peer in every dashboard query")
		var members, peers []string
		for _, m := range faultMembers {
			members = append(members, m.label())
		}
		peers = append(peers, peerLabel)
		titles := make([]string, 0, len(queries))
		for title := range queries {
			titles = append(titles, title)
		}
		sort.Strings(titles)
		var missing []string
		for _, title := range titles {
			q := queries[title]
			if c.series[title] == 0 {
				missing = append(missing, fmt.Sprintf("%s: no series in any phase: %s", title, q))
				continue
			}
			for _, want := range []struct {
				label  string
				values []string
				seen   map[string]bool
			}{{"member", members, c.members[title]}, {"peer", peers, c.peers[title]}} {
				if !groups(q, want.label) {
					continue
				}
				for _, v := range want.values {
					if !want.seen[v] {
						missing = append(missing, fmt.Sprintf("%s: no series of %s %s: %s", title, want.label, v, q))
					}
				}
			}
		}
		Expect(missing).To(BeEmpty(), "%s", strings.Join(slices.Compact(missing), "\n"))
	}, NodeTimeout(8*time.Minute))
})
