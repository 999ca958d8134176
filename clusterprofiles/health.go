package clusterprofiles

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// ControlPlaneUnhealthy reports whether the cluster manager says the control
// plane is unhealthy (ControlPlaneHealthy=False), with its message. An absent
// or Unknown condition is not a verdict: the hub's own probe decides then.
func ControlPlaneUnhealthy(cp *clusterinventoryv1alpha1.ClusterProfile) (bool, string) {
	c := meta.FindStatusCondition(cp.Status.Conditions, clusterinventoryv1alpha1.ClusterConditionControlPlaneHealthy)
	if c == nil || c.Status != metav1.ConditionFalse {
		return false, ""
	}
	return true, fmt.Sprintf("the cluster manager reports %s=False (%s): %s", c.Type, c.Reason, c.Message)
}

// Prober checks that a cluster's API server answers /readyz with the hub's
// credentials. Its HTTP client is built once per connection, so exec-plugin
// credentials are cached and refreshed by client-go as usual.
type Prober struct {
	client *http.Client
	url    string
}

// NewProber makes a prober from a fully tuned rest.Config (its Timeout bounds
// each probe).
func NewProber(cfg *rest.Config) (*Prober, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &Prober{client: hc, url: strings.TrimSuffix(cfg.Host, "/") + "/readyz"}, nil
}

// Probe returns nil if the server is ready, else a Problem with the reason a
// failure of this kind gets.
func (p *Prober) Probe(ctx context.Context) *Problem {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return problemf(ReasonCredentialsInvalid, "probe %s: %v", p.url, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return ClassifyConnectionError(err, 0)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return ClassifyConnectionError(fmt.Errorf("GET /readyz: %s", resp.Status), resp.StatusCode)
}

// ClassifyConnectionError turns an error of a request to a member into the
// condition reason an operator can act on.
func ClassifyConnectionError(err error, status int) *Problem {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		return problemf(ReasonCredentialsInvalid, "the server's TLS certificate is not trusted (check the CA): %v", err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return problemf(ReasonCredentialsInvalid, "the server rejects the hub's credentials (HTTP %d): %v", status, err)
	case status >= 500:
		return problemf(ReasonUnreachable, "the server is not ready (HTTP %d): %v", status, err)
	default:
		return problemf(ReasonUnreachable, "the server cannot be reached: %v", err)
	}
}
