package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/test/fleet"
)

func TestExpiresCell(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	profile := func(value string) *clusterinventoryv1alpha1.ClusterProfile {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if value != "" {
			cp.Status.Properties = []clusterinventoryv1alpha1.Property{{Name: clusterprofiles.PropertyCredentialExpiry, Value: value}}
		}
		return cp
	}
	for _, tc := range []struct{ value, want string }{
		{"2026-12-20T00:00:00Z", "13d"},
		{"2026-12-07T05:00:00Z", "5h"},
		{"2026-12-07T00:30:00Z", "30m"},
		{"2026-12-07T00:00:00Z", "expired"},
		{"2026-11-01T00:00:00Z", "expired"},
		{"", "unknown"},
		{"next week", "unknown"},
	} {
		if got := expires(profile(tc.value), now); got != tc.want {
			t.Errorf("expires(%q) = %q, want %q", tc.value, got, tc.want)
		}
	}
}

// TestStatusShowsCredentialExpiry runs the hub against a fleet whose three
// clusters it reaches with the three kinds of credentials that say when they
// expire: a member with a ServiceAccount token (its JWT exp), the peer with
// a client certificate (its NotAfter), and a member through an access
// provider's exec plugin (its ExecCredential's expirationTimestamp, earlier
// than the exp of the token it returns). The hub records each on the
// profile, exports it as a metric and `status -o wide` shows it.
func TestStatusShowsCredentialExpiry(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, hub := startFleet(ctx, t, 2, 1)

	// The peer: a client certificate.
	certKubeconfig, err := f.Cluster("apinet-1").AddUser("apinet-hub-cert", "system:masters")
	g.Expect(err).NotTo(HaveOccurred())
	certConfig, err := clientcmd.RESTConfigFromKubeConfig(certKubeconfig)
	g.Expect(err).NotTo(HaveOccurred())
	certExpiry, ok := clusterprofiles.CertificateExpiry(certConfig.CertData)
	g.Expect(ok).To(BeTrue(), "envtest's user has an inline client certificate")
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "apinet-1", fleet.APINetLabels, nil, certKubeconfig)).To(Succeed())

	// ironcore-1: a ServiceAccount token (TokenRequest, 24 h).
	token, err := f.Cluster("ironcore-1").ServiceAccountToken(ctx, "apinet-hub-expiry")
	g.Expect(err).NotTo(HaveOccurred())
	tokenExpiry, ok := clusterprofiles.TokenExpiry(token.Token)
	g.Expect(ok).To(BeTrue(), "a TokenRequest token is a JWT with exp")
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), nil, token.Kubeconfig)).To(Succeed())

	// ironcore-2: an exec plugin returning a 24 h token, saying that the
	// credential expires in 90 minutes.
	execToken, err := f.Cluster("ironcore-2").ServiceAccountToken(ctx, "apinet-hub-exec")
	g.Expect(err).NotTo(HaveOccurred())
	execExpiry := time.Now().Add(90 * time.Minute).UTC().Truncate(time.Second)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "expiring-plugin")
	runs := filepath.Join(dir, "runs") // a line per run of the plugin
	g.Expect(os.WriteFile(plugin, []byte(fmt.Sprintf(`#!/bin/sh
echo run >> %s
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}'
`, runs, execToken.Token, execExpiry.Format(time.RFC3339))), 0o700)).To(Succeed())
	providerFile := filepath.Join(dir, "providers.json")
	raw, err := json.Marshal(access.Config{Providers: []access.Provider{{Name: "expiring",
		ExecConfig: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: plugin}}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(providerFile, raw, 0o600)).To(Succeed())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-2", fleet.IronCoreLabels("apinet-1"), nil, nil)).To(Succeed())
	g.Eventually(func() error {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "ironcore-2"}, cp); err != nil {
			return err
		}
		cp.Status.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{{Name: "expiring", Cluster: clientcmdv1.Cluster{
			Server: f.Cluster("ironcore-2").Host(), CertificateAuthorityData: f.Cluster("ironcore-2").CAData()}}}
		return hub.Status().Update(ctx, cp)
	}, time.Minute).Should(Succeed())

	proc := startHub(ctx, t, f, "--probe-interval", "1s", "--clusterprofile-provider-file", providerFile)
	for _, name := range []string{"apinet-1", "ironcore-1", "ironcore-2"} {
		g.Eventually(engagedReason(ctx, hub, "fleet", name), time.Minute).Should(Equal(clusterprofiles.ReasonEngaged), name)
	}

	want := map[string]time.Time{"apinet-1": certExpiry, "ironcore-1": tokenExpiry, "ironcore-2": execExpiry}
	property := func(name string) func() string {
		return func() string {
			cp := &clusterinventoryv1alpha1.ClusterProfile{}
			if err := hub.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: name}, cp); err != nil {
				return err.Error()
			}
			return clusterprofiles.Property(cp, clusterprofiles.PropertyCredentialExpiry)
		}
	}
	for name, at := range want {
		g.Eventually(property(name), 30*time.Second).Should(Equal(at.UTC().Format(time.RFC3339)), name)
	}

	// The plugin runs once for client-go (which keeps the credential until
	// its expirationTimestamp) and once for the hub's reading; not per
	// probe (every second here) or per reconcile.
	pluginRuns := func() int {
		data, _ := os.ReadFile(runs)
		return strings.Count(string(data), "run\n")
	}
	before := pluginRuns()
	g.Expect(before).To(BeNumerically("<=", 3), "client-go's run(s) and the hub's")
	g.Consistently(pluginRuns, 5*time.Second, time.Second).Should(Equal(before), "no run per probe or reconcile")
	t.Logf("exec plugin runs after engagement and 5 s of probes every second: %d", before)

	// The metric, labelled like the profiles' other series.
	series := map[string]string{
		"apinet-1":   `{member="",peer="fleet.apinet-1"}`,
		"ironcore-1": `{member="fleet.ironcore-1",peer="fleet.apinet-1"}`,
		"ironcore-2": `{member="fleet.ironcore-2",peer="fleet.apinet-1"}`,
	}
	scrape := func() string { body, _ := proc.Scrape(ctx); return body }
	for name, labels := range series {
		g.Eventually(func() (float64, error) {
			return gaugeValue(scrape(), "apinet_hub_credential_expiry_timestamp_seconds"+labels)
		},
			30*time.Second).Should(Equal(float64(want[name].Unix())), name)
	}

	// status -o wide: EXPIRES, relative.
	code, out, errOut := cli(ctx, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "-o", "wide")
	g.Expect(code).To(Equal(0), errOut)
	lines := strings.Split(out, "\n")
	header := strings.Fields(lines[0])
	column := -1
	for i, h := range header {
		if h == "EXPIRES" {
			column = i
		}
	}
	g.Expect(column).To(Equal(10), "NAME ROLE PEER ENGAGED REASON OBJECTS AGE SINCE APINET-NAMESPACE CLUSTER-UID EXPIRES MESSAGE: %s", out)
	shown := map[string]string{}
	for _, line := range lines[1:] {
		if fields := strings.Fields(line); len(fields) > column {
			shown[fields[0]] = fields[column]
		}
	}
	t.Logf("status -o wide:\n%s", out)
	for name, at := range want {
		// The column is relative to when status ran: allow for the seconds
		// the command took.
		g.Expect(shown[name]).To(BeElementOf(duration.HumanDuration(time.Until(at)), duration.HumanDuration(time.Until(at)+time.Minute)), name)
	}
	g.Expect(shown["ironcore-1"]).To(Equal("23h"), "a one-day token")
	g.Expect(shown["ironcore-2"]).To(MatchRegexp(`^(89|90)m$`), "the exec credential's expirationTimestamp, before the exp of its token")

	// New credentials, a new reading: a one-hour token.
	short := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	g.Expect(f.Cluster("ironcore-1").Client().SubResource("token").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "apinet-hub-expiry"}}, short)).To(Succeed())
	shortExpiry, ok := clusterprofiles.TokenExpiry(short.Status.Token)
	g.Expect(ok).To(BeTrue())
	shortKubeconfig, err := f.Cluster("ironcore-1").KubeconfigWith(&clientcmdapi.AuthInfo{Token: short.Status.Token}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), nil, shortKubeconfig)).To(Succeed())
	g.Eventually(property("ironcore-1"), 30*time.Second).Should(Equal(shortExpiry.UTC().Format(time.RFC3339)))
	g.Eventually(func() (float64, error) {
		return gaugeValue(scrape(), "apinet_hub_credential_expiry_timestamp_seconds"+series["ironcore-1"])
	},
		30*time.Second).Should(Equal(float64(shortExpiry.Unix())))
	code, out, errOut = cli(ctx, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "-o", "wide", "ironcore-1")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(strings.Fields(strings.Split(out, "\n")[1])[column]).To(MatchRegexp(`^(59|60)m$`), out)

	// A token that says nothing (and does not work): unknown, no series.
	opaque, err := f.Cluster("ironcore-1").KubeconfigWith(&clientcmdapi.AuthInfo{Token: "not-a-jwt"}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fleet.Onboard(ctx, hub, "fleet", "ironcore-1", fleet.IronCoreLabels("apinet-1"), nil, opaque)).To(Succeed())
	g.Eventually(property("ironcore-1"), 30*time.Second).Should(BeEmpty())
	g.Eventually(scrape, 30*time.Second).ShouldNot(ContainSubstring(`apinet_hub_credential_expiry_timestamp_seconds{member="fleet.ironcore-1"`))
	code, out, errOut = cli(ctx, "status", "--kubeconfig", f.Hub().KubeconfigPath(), "-n", "fleet", "-o", "wide", "ironcore-1")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(strings.Fields(strings.Split(out, "\n")[1])[column]).To(Equal("unknown"), out)

	// Gone with the profile.
	g.Expect(hub.Delete(ctx, &clusterinventoryv1alpha1.ClusterProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "ironcore-2"}})).To(Succeed())
	g.Eventually(scrape, time.Minute).ShouldNot(ContainSubstring(`apinet_hub_credential_expiry_timestamp_seconds{member="fleet.ironcore-2"`))
	g.Expect(scrape()).To(ContainSubstring(`apinet_hub_credential_expiry_timestamp_seconds{member="",peer="fleet.apinet-1"}`))
}

// gaugeValue reads the value of one series (name and labels, as printed)
// from a Prometheus text scrape.
func gaugeValue(body, series string) (float64, error) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no series %s", series)
	}
	return strconv.ParseFloat(m[1], 64)
}
