package clusterprofiles

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

var testCAData = base64.StdEncoding.EncodeToString([]byte("not really a certificate"))

// kubeconfig builds a kubeconfig with one cluster "c", one user "u" and one
// context "ctx"; the arguments are YAML fragments (indented for their
// place) and the current-context.
func kubeconfig(cluster, user, currentContext string) string {
	s := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n" + cluster +
		"users:\n- name: u\n  user:\n" + user +
		"contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
	if currentContext != "" {
		s += "current-context: " + currentContext + "\n"
	}
	return s
}

const (
	inlineCluster = "    server: https://127.0.0.1:6443\n    certificate-authority-data: %s\n"
	tokenUser     = "    token: secret-token\n"
)

var validKubeconfig = kubeconfig(fmt.Sprintf(inlineCluster, testCAData), tokenUser, "ctx")

var kubeconfigCases = []struct {
	name    string
	data    string
	wantErr string // empty: no error
}{
	{
		name: "valid inline",
		data: validKubeconfig,
	},
	{
		name: "single context without current-context",
		data: kubeconfig(fmt.Sprintf(inlineCluster, testCAData), tokenUser, ""),
	},
	{
		name: "no user entry",
		data: "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://example.com\n" +
			"contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: nobody\ncurrent-context: ctx\n",
	},
	{
		name:    "not YAML",
		data:    "{{{ this is : not [ yaml",
		wantErr: "does not parse",
	},
	{
		name:    "empty",
		data:    "",
		wantErr: "current-context",
	},
	{
		name: "two contexts without current-context",
		data: "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n" +
			"users:\n- name: u\n  user:\n    token: t\n" +
			"contexts:\n- name: a\n  context:\n    cluster: c\n    user: u\n- name: b\n  context:\n    cluster: c\n    user: u\n",
		wantErr: "no current-context",
	},
	{
		name:    "current-context names a missing context",
		data:    kubeconfig(fmt.Sprintf(inlineCluster, testCAData), tokenUser, "other"),
		wantErr: "no current-context",
	},
	{
		name: "context names a missing cluster",
		data: "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n" +
			"contexts:\n- name: ctx\n  context:\n    cluster: other\n    user: u\ncurrent-context: ctx\n",
		wantErr: "missing or has no server",
	},
	{
		name:    "cluster without server",
		data:    kubeconfig(fmt.Sprintf("    certificate-authority-data: %s\n", testCAData), tokenUser, "ctx"),
		wantErr: "missing or has no server",
	},
	{
		name:    "http server",
		data:    kubeconfig("    server: http://127.0.0.1:6443\n", tokenUser, "ctx"),
		wantErr: "not an https URL",
	},
	{
		name:    "server without scheme",
		data:    kubeconfig("    server: 127.0.0.1:6443\n", tokenUser, "ctx"),
		wantErr: "not an https URL",
	},
	{
		name:    "https server without host",
		data:    kubeconfig("    server: https:///path\n", tokenUser, "ctx"),
		wantErr: "not an https URL",
	},
	{
		name:    "certificate-authority file",
		data:    kubeconfig("    server: https://127.0.0.1:6443\n    certificate-authority: /etc/ca.crt\n", tokenUser, "ctx"),
		wantErr: "reads its CA from a file",
	},
	{
		name: "exec plugin",
		data: kubeconfig(fmt.Sprintf(inlineCluster, testCAData),
			"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"id\"]\n", "ctx"),
		wantErr: "exec or auth-provider plugin",
	},
	{
		name: "auth-provider",
		data: kubeconfig(fmt.Sprintf(inlineCluster, testCAData),
			"    auth-provider:\n      name: oidc\n      config:\n        idp-issuer-url: https://issuer.example.com\n", "ctx"),
		wantErr: "exec or auth-provider plugin",
	},
	{
		name: "client-certificate file",
		data: kubeconfig(fmt.Sprintf(inlineCluster, testCAData),
			"    client-certificate: /etc/client.crt\n    client-key-data: "+testCAData+"\n", "ctx"),
		wantErr: "reads credentials from files",
	},
	{
		name: "client-key file",
		data: kubeconfig(fmt.Sprintf(inlineCluster, testCAData),
			"    client-certificate-data: "+testCAData+"\n    client-key: /etc/client.key\n", "ctx"),
		wantErr: "reads credentials from files",
	},
	{
		name:    "tokenFile",
		data:    kubeconfig(fmt.Sprintf(inlineCluster, testCAData), "    tokenFile: /var/run/token\n", "ctx"),
		wantErr: "reads credentials from files",
	},
}

func TestRESTConfigFromSecretKubeconfig(t *testing.T) {
	for _, tt := range kubeconfigCases {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := RESTConfigFromSecretKubeconfig([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("RESTConfigFromSecretKubeconfig() = %+v, want error containing %q", cfg, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("RESTConfigFromSecretKubeconfig() error = %q, want it to contain %q", err, tt.wantErr)
				}
				if cfg != nil {
					t.Errorf("RESTConfigFromSecretKubeconfig() config = %+v alongside error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("RESTConfigFromSecretKubeconfig() error = %v", err)
			}
			checkSafeConfig(t, cfg)
		})
	}
}

// TestResolverParseMemo: a credential Secret's kubeconfig is parsed once
// per content; each caller gets a copy of its own; a kubeconfig that does
// not parse is reported every time and not remembered; the memo is bounded.
func TestResolverParseMemo(t *testing.T) {
	r := &CredentialResolver{}
	data := []byte(validKubeconfig)
	sum := sha256.Sum256(data)
	first, err := r.parse(sum, data)
	if err != nil {
		t.Fatal(err)
	}
	first.Host, first.QPS = "https://changed", 7 // a caller tunes its copy
	second, err := r.parse(sum, data)
	if err != nil || second.Host != "https://127.0.0.1:6443" || second.QPS != 0 || second.BearerToken != "secret-token" {
		t.Fatalf("second parse = %+v, %v: want the kubeconfig's own config", second, err)
	}
	if len(r.parsed) != 1 {
		t.Fatalf("%d remembered, want 1", len(r.parsed))
	}
	bad := []byte("not: [a kubeconfig")
	for range 2 {
		if cfg, err := r.parse(sha256.Sum256(bad), bad); err == nil {
			t.Fatalf("bad kubeconfig parsed to %+v", cfg)
		}
	}
	if len(r.parsed) != 1 {
		t.Fatalf("%d remembered after a bad kubeconfig, want 1", len(r.parsed))
	}
	for i := range maxParsed + 1 {
		k := []byte(kubeconfig(fmt.Sprintf(inlineCluster, testCAData), fmt.Sprintf("    token: t-%d\n", i), "ctx"))
		if _, err := r.parse(sha256.Sum256(k), k); err != nil {
			t.Fatal(err)
		}
		if len(r.parsed) > maxParsed {
			t.Fatalf("%d remembered, more than %d", len(r.parsed), maxParsed)
		}
	}
}

func TestRESTConfigFromSecretKubeconfigFields(t *testing.T) {
	cfg, err := RESTConfigFromSecretKubeconfig([]byte(validKubeconfig))
	if err != nil {
		t.Fatalf("RESTConfigFromSecretKubeconfig() error = %v", err)
	}
	if cfg.Host != "https://127.0.0.1:6443" {
		t.Errorf("Host = %q", cfg.Host)
	}
	if cfg.BearerToken != "secret-token" {
		t.Errorf("BearerToken = %q", cfg.BearerToken)
	}
	if string(cfg.CAData) != "not really a certificate" {
		t.Errorf("CAData = %q", cfg.CAData)
	}
}

// checkSafeConfig asserts what a config from a credential Secret may never
// carry.
func checkSafeConfig(t *testing.T, cfg *rest.Config) {
	t.Helper()
	if cfg == nil {
		t.Fatal("config is nil without error")
	}
	// URL schemes are case-insensitive (RFC 3986): the package accepts
	// "HTTPS://", which client-go connects to over TLS like "https://".
	if len(cfg.Host) < len("https://") || !strings.EqualFold(cfg.Host[:len("https://")], "https://") {
		t.Errorf("Host %q does not start with https://", cfg.Host)
	}
	if u, err := url.Parse(cfg.Host); err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("Host %q is not an https URL (%v)", cfg.Host, err)
	}
	if cfg.ExecProvider != nil {
		t.Errorf("ExecProvider = %+v", cfg.ExecProvider)
	}
	if cfg.AuthProvider != nil {
		t.Errorf("AuthProvider = %+v", cfg.AuthProvider)
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		t.Errorf("TLS files CA=%q cert=%q key=%q", cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	}
	if cfg.BearerTokenFile != "" {
		t.Errorf("BearerTokenFile = %q", cfg.BearerTokenFile)
	}
}

func FuzzRESTConfigFromSecretKubeconfig(f *testing.F) {
	for _, tt := range kubeconfigCases {
		f.Add([]byte(tt.data))
	}
	f.Add([]byte(kubeconfig("    server: HTTPS://127.0.0.1:6443\n", tokenUser, "ctx")))
	f.Add([]byte(kubeconfig("    server: https://127.0.0.1:6443\n    proxy-url: socks5://127.0.0.1:1080\n", tokenUser, "ctx")))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"c","cluster":{"server":"https://h"}}],"contexts":[{"name":"","context":{"cluster":"c","user":""}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := RESTConfigFromSecretKubeconfig(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config %+v alongside error %v", cfg, err)
			}
			return
		}
		checkSafeConfig(t, cfg)
	})
}

func execConfig(server string, ca []byte, args []string, env ...clientcmdapi.ExecEnvVar) *rest.Config {
	return &rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca, ServerName: "api.example.com"},
		ExecProvider: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1",
			Command:    "get-token",
			Args:       args,
			Env:        env,
		},
	}
}

func TestAccessHash(t *testing.T) {
	envA := clientcmdapi.ExecEnvVar{Name: "A", Value: "1"}
	envB := clientcmdapi.ExecEnvVar{Name: "B", Value: "2"}
	ca := []byte("ca")
	base := accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x"}, envA, envB))

	if again := accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)); again != base {
		t.Errorf("same inputs: %s != %s", again, base)
	}
	if swapped := accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x"}, envB, envA)); swapped != base {
		t.Errorf("env order changes the hash: %s != %s", swapped, base)
	}
	if len(base) != 64 {
		t.Errorf("hash %q is not hex sha256", base)
	}

	insecure := execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)
	insecure.Insecure = true
	serverName := execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)
	serverName.ServerName = "other.example.com"
	command := execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)
	command.ExecProvider.Command = "other"
	clusterInfo := execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)
	clusterInfo.ExecProvider.ProvideClusterInfo = true
	noExec := execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)
	noExec.ExecProvider = nil

	different := map[string]string{
		"provider":       accessHash("q", "", execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)),
		"arg":            accessHash("p", "", execConfig("https://h:6443", ca, []string{"--y"}, envA, envB)),
		"extra arg":      accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x", "--y"}, envA, envB)),
		"server":         accessHash("p", "", execConfig("https://other:6443", ca, []string{"--x"}, envA, envB)),
		"CA":             accessHash("p", "", execConfig("https://h:6443", []byte("other ca"), []string{"--x"}, envA, envB)),
		"proxy URL":      accessHash("p", "http://proxy:3128", execConfig("https://h:6443", ca, []string{"--x"}, envA, envB)),
		"env value":      accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x"}, envA, clientcmdapi.ExecEnvVar{Name: "B", Value: "3"})),
		"env missing":    accessHash("p", "", execConfig("https://h:6443", ca, []string{"--x"}, envA)),
		"insecure":       accessHash("p", "", insecure),
		"server name":    accessHash("p", "", serverName),
		"command":        accessHash("p", "", command),
		"cluster info":   accessHash("p", "", clusterInfo),
		"no exec plugin": accessHash("p", "", noExec),
	}
	seen := map[string]string{"base": base}
	for what, h := range different {
		for other, oh := range seen {
			if h == oh {
				t.Errorf("changing %s gives the same hash as %s", what, other)
			}
		}
		seen[what] = h
	}
}

func TestCopyAccessConfig(t *testing.T) {
	orig := &access.Config{Providers: []access.Provider{
		{Name: "a", ExecConfig: &clientcmdapi.ExecConfig{Command: "x", Args: []string{"1"}, Env: []clientcmdapi.ExecEnvVar{{Name: "E", Value: "v"}}}},
		{Name: "b"},
	}}
	cp := copyAccessConfig(orig)
	if len(cp.Providers) != 2 || cp.Providers[0].Name != "a" || cp.Providers[1].Name != "b" {
		t.Fatalf("copy = %+v", cp)
	}
	if cp.Providers[1].ExecConfig != nil {
		t.Errorf("copy invented an ExecConfig for b")
	}
	if cp.Providers[0].ExecConfig == orig.Providers[0].ExecConfig {
		t.Fatalf("copy shares the ExecConfig pointer")
	}
	cp.Providers[0].ExecConfig.Args[0] = "changed"
	cp.Providers[0].ExecConfig.Args = append(cp.Providers[0].ExecConfig.Args, "2")
	cp.Providers[0].ExecConfig.Env[0].Value = "changed"
	cp.Providers[0].ExecConfig.Command = "y"
	cp.Providers[0].Name = "renamed"
	cp.Providers = append(cp.Providers, access.Provider{Name: "c"})

	got := orig.Providers[0].ExecConfig
	if len(got.Args) != 1 || got.Args[0] != "1" {
		t.Errorf("original args = %q", got.Args)
	}
	if got.Env[0].Value != "v" || got.Command != "x" || orig.Providers[0].Name != "a" || len(orig.Providers) != 2 {
		t.Errorf("original changed: %+v", orig)
	}
}

func TestPickAccessProvider(t *testing.T) {
	exec := &clientcmdapi.ExecConfig{Command: "x", Args: []string{"1"}}
	cfg := &access.Config{Providers: []access.Provider{
		{Name: "first", ExecConfig: exec},
		{Name: "noexec"},
		{Name: "second", ExecConfig: exec},
		{Name: "third", ExecConfig: exec},
	}}
	ap := func(name, server string) clusterinventoryv1alpha1.AccessProvider {
		a := clusterinventoryv1alpha1.AccessProvider{Name: name}
		a.Cluster.Server = server
		return a
	}
	tests := []struct {
		name       string
		access     []clusterinventoryv1alpha1.AccessProvider
		credential []clusterinventoryv1alpha1.CredentialProvider
		wantName   string // empty: nil
		wantServer string
	}{
		{name: "nothing offered"},
		{name: "unknown provider", access: []clusterinventoryv1alpha1.AccessProvider{ap("other", "https://o")}},
		{name: "provider without exec config", access: []clusterinventoryv1alpha1.AccessProvider{ap("noexec", "https://n")}},
		{
			name:     "file order wins over profile order",
			access:   []clusterinventoryv1alpha1.AccessProvider{ap("third", "https://3"), ap("second", "https://2")},
			wantName: "second", wantServer: "https://2",
		},
		{
			name:     "first of the file",
			access:   []clusterinventoryv1alpha1.AccessProvider{ap("other", "https://o"), ap("third", "https://3"), ap("first", "https://1")},
			wantName: "first", wantServer: "https://1",
		},
		{
			name:       "credential providers alone",
			credential: []clusterinventoryv1alpha1.CredentialProvider{ap("third", "https://c3")},
			wantName:   "third", wantServer: "https://c3",
		},
		{
			name:       "access provider preferred over credential provider of the same name",
			access:     []clusterinventoryv1alpha1.AccessProvider{ap("second", "https://a2")},
			credential: []clusterinventoryv1alpha1.CredentialProvider{ap("second", "https://c2")},
			wantName:   "second", wantServer: "https://a2",
		},
		{
			name:       "file order across access and credential providers",
			access:     []clusterinventoryv1alpha1.AccessProvider{ap("third", "https://a3")},
			credential: []clusterinventoryv1alpha1.CredentialProvider{ap("first", "https://c1")},
			wantName:   "first", wantServer: "https://c1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newProfile("fleet", "m", nil, nil)
			cp.Status.AccessProviders = tt.access
			cp.Status.CredentialProviders = tt.credential
			got := pickAccessProvider(cfg, cp)
			if tt.wantName == "" {
				if got != nil {
					t.Fatalf("pickAccessProvider() = %+v, want nil", got)
				}
				return
			}
			if got == nil {
				t.Fatalf("pickAccessProvider() = nil, want %q", tt.wantName)
			}
			if got.Name != tt.wantName || got.Cluster.Server != tt.wantServer {
				t.Errorf("pickAccessProvider() = %s (%s), want %s (%s)", got.Name, got.Cluster.Server, tt.wantName, tt.wantServer)
			}
		})
	}

	if got := pickAccessProvider(&access.Config{}, newProfile("fleet", "m", nil, nil)); got != nil {
		t.Errorf("empty provider file: pickAccessProvider() = %+v", got)
	}
}

func TestClassifyConnectionError(t *testing.T) {
	dial := &url.Error{Op: "Get", URL: "https://h/readyz", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tlsErr := &url.Error{Op: "Get", URL: "https://h/readyz", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"unknown authority", tlsErr, 0, ReasonCredentialsInvalid},
		{"wrapped unknown authority", fmt.Errorf("probe: %w", x509.UnknownAuthorityError{}), 0, ReasonCredentialsInvalid},
		{"hostname mismatch", fmt.Errorf("probe: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}), 0, ReasonCredentialsInvalid},
		{"invalid certificate", fmt.Errorf("probe: %w", x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}), 0, ReasonCredentialsInvalid},
		{"401", errors.New("GET /readyz: 401 Unauthorized"), 401, ReasonCredentialsInvalid},
		{"403", errors.New("GET /readyz: 403 Forbidden"), 403, ReasonCredentialsInvalid},
		{"500", errors.New("GET /readyz: 500 Internal Server Error"), 500, ReasonUnreachable},
		{"503", errors.New("GET /readyz: 503 Service Unavailable"), 503, ReasonUnreachable},
		{"404", errors.New("GET /readyz: 404 Not Found"), 404, ReasonUnreachable},
		{"dial error", dial, 0, ReasonUnreachable},
		{"plain error", errors.New("connection reset"), 0, ReasonUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ClassifyConnectionError(tt.err, tt.status)
			if p == nil {
				t.Fatal("ClassifyConnectionError() = nil")
			}
			if p.Reason != tt.want {
				t.Errorf("ClassifyConnectionError() reason = %q, want %q (%s)", p.Reason, tt.want, p.Message)
			}
			if !strings.Contains(p.Message, tt.err.Error()) {
				t.Errorf("message %q does not carry the error %q", p.Message, tt.err)
			}
		})
	}
}
