package clusterprofiles

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientauthenticationv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/rest"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// PropertyCredentialExpiry is the ClusterProfile status property in which
// the hub records when the credentials it uses for the cluster expire
// (RFC 3339, UTC): the earliest of the bearer token's exp, the client
// certificate's NotAfter and an exec credential's expirationTimestamp.
// Absent while the expiry is unknown.
const PropertyCredentialExpiry = "apinet-hub.ironcore.dev/credential-expiry"

// CredentialExpiry returns when the credentials of cfg expire as far as they
// themselves say: the earliest of the bearer token's JWT exp and the
// NotAfter of the client certificate (CertData). ok is false when neither
// says (an opaque token, no certificate, an exec plugin: see
// ExecCredentialExpiry). It reads no files: the hub's credentials never
// name any (credential Secrets may not; access providers are exec
// plugins), and client-go re-reads token and certificate files, so a
// reading taken once would turn stale.
func CredentialExpiry(cfg *rest.Config) (at time.Time, ok bool) {
	if cfg == nil {
		return time.Time{}, false
	}
	if t, ok := TokenExpiry(cfg.BearerToken); ok {
		at = earliest(at, t)
	}
	if t, ok := CertificateExpiry(cfg.CertData); ok {
		at = earliest(at, t)
	}
	return at, !at.IsZero()
}

// TokenExpiry reads the exp claim of a JWT bearer token without verifying
// it (it is the hub's own credential; the API server verifies it). ok is
// false for a token that is no JWT, has no exp, or an exp outside years
// 1970..9999.
func TokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 || parts[1] == "" {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	var exp float64
	// exp must be a JSON number (json.Number would take a quoted one).
	if err := json.Unmarshal(payload, &claims); err != nil || json.Unmarshal(claims.Exp, &exp) != nil {
		return time.Time{}, false
	}
	// RFC 7519: a NumericDate, seconds since the epoch, possibly fractional.
	if math.IsNaN(exp) || exp <= 0 || exp >= maxUnix {
		return time.Time{}, false
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// maxUnix is the start of year 10000: later expiries do not fit RFC 3339.
const maxUnix = 253402300800

// CertificateExpiry returns the earliest NotAfter of the PEM certificates
// in data (a client certificate and any chain sent with it). ok is false
// when data holds no parseable certificate.
func CertificateExpiry(data []byte) (at time.Time, ok bool) {
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		at = earliest(at, cert.NotAfter.UTC())
	}
	return at, !at.IsZero()
}

// ExecCredentialExpiry reads the output of an exec credential plugin (an
// ExecCredential, client.authentication.k8s.io v1 or v1beta1): the earliest
// of its status.expirationTimestamp, its token's JWT exp and its client
// certificate's NotAfter. ok is false when none of them says; err when the
// output is no ExecCredential with a status.
func ExecCredentialExpiry(out []byte) (at time.Time, ok bool, err error) {
	var cred clientauthenticationv1.ExecCredential
	if err := json.Unmarshal(out, &cred); err != nil {
		return time.Time{}, false, fmt.Errorf("the plugin's output is no ExecCredential: %w", err)
	}
	if cred.Kind != "ExecCredential" || cred.Status == nil {
		return time.Time{}, false, fmt.Errorf("the plugin's output is no ExecCredential with a status (kind %q)", cred.Kind)
	}
	if ts := cred.Status.ExpirationTimestamp; ts != nil && !ts.IsZero() && ts.Unix() > 0 && ts.Unix() < maxUnix {
		at = earliest(at, ts.UTC())
	}
	if t, ok := TokenExpiry(cred.Status.Token); ok {
		at = earliest(at, t)
	}
	if t, ok := CertificateExpiry([]byte(cred.Status.ClientCertificateData)); ok {
		at = earliest(at, t)
	}
	return at, !at.IsZero(), nil
}

// RunExecPlugin runs the exec credential plugin of cfg once, the way
// client-go runs it (the plugin's command, args and env on top of the hub's
// environment, KUBERNETES_EXEC_INFO holding an ExecCredential with
// spec.interactive false and, if the plugin asks for it, spec.cluster), and
// returns its standard output. client-go runs the plugin itself and keeps
// what it returns to itself; the hub runs it once more per credential to
// learn when the credential expires.
func RunExecPlugin(ctx context.Context, cfg *rest.Config) ([]byte, error) {
	e := cfg.ExecProvider
	if e == nil {
		return nil, fmt.Errorf("no exec plugin")
	}
	apiVersion := e.APIVersion
	if apiVersion == "" {
		apiVersion = clientauthenticationv1.SchemeGroupVersion.String()
	}
	info := clientauthenticationv1.ExecCredential{Spec: clientauthenticationv1.ExecCredentialSpec{Interactive: false}}
	info.APIVersion, info.Kind = apiVersion, "ExecCredential"
	if e.ProvideClusterInfo {
		c, err := rest.ConfigToExecCluster(cfg)
		if err != nil {
			return nil, err
		}
		info.Spec.Cluster = &clientauthenticationv1.Cluster{
			Server: c.Server, TLSServerName: c.TLSServerName, InsecureSkipTLSVerify: c.InsecureSkipTLSVerify,
			CertificateAuthorityData: c.CertificateAuthorityData, ProxyURL: c.ProxyURL, DisableCompression: c.DisableCompression,
		}
		if c.Config != nil {
			raw, err := json.Marshal(c.Config)
			if err != nil {
				return nil, err
			}
			info.Spec.Cluster.Config = runtime.RawExtension{Raw: raw}
		}
	}
	rawInfo, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, e.Command, e.Args...) //nolint:gosec // the hub's own provider file names the plugin
	cmd.Env = os.Environ()
	for _, v := range e.Env {
		cmd.Env = append(cmd.Env, v.Name+"="+v.Value)
	}
	cmd.Env = append(cmd.Env, "KUBERNETES_EXEC_INFO="+string(rawInfo))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return nil, fmt.Errorf("exec plugin %s: %w (stderr: %q)", e.Command, err, msg)
	}
	return stdout.Bytes(), nil
}

// ExpiryString is how an expiry is written to PropertyCredentialExpiry:
// RFC 3339 in UTC, whole seconds; "" when unknown (the zero time).
func ExpiryString(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	return at.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// Expiry reads PropertyCredentialExpiry of a profile; ok is false when it is
// absent or does not parse.
func Expiry(cp *clusterinventoryv1alpha1.ClusterProfile) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, Property(cp, PropertyCredentialExpiry))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
