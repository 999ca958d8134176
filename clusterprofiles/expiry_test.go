package clusterprofiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// jwt is an unsigned JWT with the given payload.
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("signature"))
}

// testCert is a self-signed PEM certificate valid until notAfter.
func testCert(t testing.TB, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTokenExpiry(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		want        int64 // 0: unknown
	}{
		{"service account token", jwt(`{"aud":["https://kubernetes.default.svc"],"exp":1767225600,"iat":1735689600,"sub":"system:serviceaccount:apinet-hub:apinet-hub"}`), 1767225600},
		{"fractional exp", jwt(`{"exp":1767225600.5}`), 1767225600},
		{"exponent form", jwt(`{"exp":1.7672256e9}`), 1767225600},
		{"padded payload", "e30." + base64.URLEncoding.EncodeToString([]byte(`{"exp":1767225600 }`)) + ".s", 1767225600},
		{"surrounding space", " " + jwt(`{"exp":1767225600}`) + "\n", 1767225600},
		{"no exp", jwt(`{"sub":"x"}`), 0},
		{"null exp", jwt(`{"exp":null}`), 0},
		{"string exp", jwt(`{"exp":"1767225600"}`), 0},
		{"negative exp", jwt(`{"exp":-5}`), 0},
		{"zero exp", jwt(`{"exp":0}`), 0},
		{"exp beyond year 9999", jwt(`{"exp":1e300}`), 0},
		{"payload not JSON", jwt(`not json`), 0},
		{"payload an array", jwt(`[1,2]`), 0},
		{"payload not base64", "a.!!!.c", 0},
		{"opaque token", "abcdef0123456789", 0},
		{"bootstrap token", "abcdef.0123456789abcdef", 0},
		{"empty", "", 0},
		{"two dots, empty payload", "a..c", 0},
		{"four parts (JWE-like)", jwt(`{"exp":1767225600}`) + ".x", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := TokenExpiry(tc.token)
			if tc.want == 0 {
				if ok {
					t.Fatalf("TokenExpiry = %v, want unknown", got)
				}
				return
			}
			if !ok || got.Unix() != tc.want {
				t.Fatalf("TokenExpiry = %v, %v; want %v", got, ok, time.Unix(tc.want, 0).UTC())
			}
		})
	}
}

func TestCertificateExpiry(t *testing.T) {
	soon, later := time.Now().Add(24*time.Hour).Truncate(time.Second).UTC(), time.Now().Add(365*24*time.Hour).Truncate(time.Second).UTC()
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("not a key")})
	for _, tc := range []struct {
		name string
		data []byte
		want time.Time
	}{
		{"one certificate", testCert(t, later), later},
		{"a chain: the earliest", append(testCert(t, later), testCert(t, soon)...), soon},
		{"a key before the certificate", append(key, testCert(t, soon)...), soon},
		{"garbage certificate skipped", append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), testCert(t, later)...), later},
		{"no PEM", []byte("hello"), time.Time{}},
		{"empty", nil, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CertificateExpiry(tc.data)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Fatalf("CertificateExpiry = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}

func TestCredentialExpiry(t *testing.T) {
	certAt := time.Unix(1800000000, 0).UTC()
	cert := testCert(t, certAt)
	for _, tc := range []struct {
		name string
		cfg  *rest.Config
		want int64
	}{
		{"token", &rest.Config{BearerToken: jwt(`{"exp":1767225600}`)}, 1767225600},
		{"certificate", &rest.Config{TLSClientConfig: rest.TLSClientConfig{CertData: cert}}, certAt.Unix()},
		{"token and certificate: the earlier", &rest.Config{BearerToken: jwt(`{"exp":1900000000}`), TLSClientConfig: rest.TLSClientConfig{CertData: cert}}, certAt.Unix()},
		{"opaque token", &rest.Config{BearerToken: "opaque"}, 0},
		{"files are not read", &rest.Config{BearerTokenFile: "/nonexistent", TLSClientConfig: rest.TLSClientConfig{CertFile: "/nonexistent"}}, 0},
		{"exec plugin: see ExecCredentialExpiry", &rest.Config{ExecProvider: &clientcmdapi.ExecConfig{Command: "x"}}, 0},
		{"nil", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CredentialExpiry(tc.cfg)
			if ok != (tc.want != 0) || (ok && got.Unix() != tc.want) {
				t.Fatalf("CredentialExpiry = %v, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestExecCredentialExpiry(t *testing.T) {
	certAt := time.Unix(1800000000, 0).UTC()
	cred := func(status map[string]any) []byte {
		raw, _ := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})
		return raw
	}
	for _, tc := range []struct {
		name    string
		out     []byte
		want    int64
		wantErr bool
	}{
		{"expirationTimestamp", cred(map[string]any{"token": "opaque", "expirationTimestamp": "2027-01-01T00:00:00Z"}), 1798761600, false},
		{"token exp only", cred(map[string]any{"token": jwt(`{"exp":1767225600}`)}), 1767225600, false},
		{"token exp before expirationTimestamp", cred(map[string]any{"token": jwt(`{"exp":1767225600}`), "expirationTimestamp": "2027-01-01T00:00:00Z"}), 1767225600, false},
		{"client certificate", cred(map[string]any{"clientCertificateData": string(testCert(t, certAt)), "clientKeyData": "k"}), certAt.Unix(), false},
		{"v1beta1", []byte(`{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2027-01-01T00:00:00Z"}}`), 1798761600, false},
		{"nothing says", cred(map[string]any{"token": "opaque"}), 0, false},
		{"no status", []byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}`), 0, true},
		{"another kind", []byte(`{"kind":"Secret","status":{}}`), 0, true},
		{"not JSON", []byte("token: x"), 0, true},
		{"bad timestamp", cred(map[string]any{"token": "t", "expirationTimestamp": "tomorrow"}), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ExecCredentialExpiry(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if ok != (tc.want != 0) || (ok && got.Unix() != tc.want) {
				t.Fatalf("ExecCredentialExpiry = %v, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestRunExecPlugin(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin")
	// Echoes what client-go's contract hands a plugin: its env and
	// KUBERNETES_EXEC_INFO (with the cluster, as asked).
	if err := os.WriteFile(plugin, []byte(`#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2027-01-01T00:00:00Z"}}' "$FROM_CONFIG-$1"
echo "$KUBERNETES_EXEC_INFO" > "$INFO_FILE"
`), 0o700); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(dir, "info")
	cfg := &rest.Config{Host: "https://member.example:6443", ExecProvider: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1", Command: plugin, Args: []string{"arg"}, ProvideClusterInfo: true,
		Env: []clientcmdapi.ExecEnvVar{{Name: "FROM_CONFIG", Value: "env"}, {Name: "INFO_FILE", Value: info}},
	}}
	out, err := RunExecPlugin(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	at, ok, err := ExecCredentialExpiry(out)
	if err != nil || !ok || at.Format(time.RFC3339) != "2027-01-01T00:00:00Z" {
		t.Fatalf("ExecCredentialExpiry(%s) = %v, %v, %v", out, at, ok, err)
	}
	var cred struct {
		Status struct{ Token string }
	}
	if err := json.Unmarshal(out, &cred); err != nil || cred.Status.Token != "env-arg" {
		t.Fatalf("the plugin did not get its env and args: %s (%v)", out, err)
	}
	raw, err := os.ReadFile(info)
	if err != nil {
		t.Fatal(err)
	}
	var execInfo struct {
		APIVersion, Kind string
		Spec             struct {
			Interactive bool
			Cluster     *struct{ Server string }
		}
	}
	if err := json.Unmarshal(raw, &execInfo); err != nil {
		t.Fatalf("KUBERNETES_EXEC_INFO %q: %v", raw, err)
	}
	if execInfo.Kind != "ExecCredential" || execInfo.APIVersion != "client.authentication.k8s.io/v1" || execInfo.Spec.Interactive ||
		execInfo.Spec.Cluster == nil || execInfo.Spec.Cluster.Server != cfg.Host {
		t.Fatalf("KUBERNETES_EXEC_INFO = %s", raw)
	}

	cfg.ExecProvider.Command = filepath.Join(dir, "missing")
	if _, err := RunExecPlugin(t.Context(), cfg); err == nil {
		t.Fatalf("a missing plugin ran")
	}
}

func TestExpiryProperty(t *testing.T) {
	at := time.Date(2027, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	s := ExpiryString(at)
	if s != "2027-01-02T02:04:05Z" {
		t.Fatalf("ExpiryString = %q", s)
	}
	if ExpiryString(time.Time{}) != "" {
		t.Fatalf("unknown expiry written")
	}
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if _, ok := Expiry(cp); ok {
		t.Fatalf("Expiry of a profile without the property")
	}
	cp.Status.Properties = []clusterinventoryv1alpha1.Property{{Name: PropertyCredentialExpiry, Value: s}}
	if got, ok := Expiry(cp); !ok || !got.Equal(at.Truncate(time.Second)) {
		t.Fatalf("Expiry = %v, %v", got, ok)
	}
}

// FuzzTokenExpiry: the JWT payload parser takes any string (tokens come from
// credential Secrets and exec plugins) without panicking, and reads back an
// exp it is given in any valid form.
func FuzzTokenExpiry(f *testing.F) {
	f.Add("", int64(1767225600))
	f.Add(jwt(`{"exp":1767225600}`), int64(0))
	f.Add("a.b.c", int64(-1))
	f.Add(jwt(`{"exp":1e308}`), int64(253402300799))
	f.Add(jwt(`{"exp":{"a":1}}`), int64(1))
	f.Fuzz(func(t *testing.T, token string, exp int64) {
		if at, ok := TokenExpiry(token); ok && (at.Unix() <= 0 || at.Unix() >= maxUnix) {
			t.Fatalf("TokenExpiry(%q) = %v: outside the years it promises", token, at)
		}
		_, _, _ = ExecCredentialExpiry([]byte(token))
		sub, _ := json.Marshal(token)
		got, ok := TokenExpiry(jwt(`{"exp":` + strconv.FormatInt(exp, 10) + `,"sub":` + string(sub) + `}`))
		if want := exp > 0 && exp < maxUnix; ok != want || (ok && got.Unix() != exp) {
			t.Fatalf("exp %d read as %v, %v", exp, got, ok)
		}
	})
}
