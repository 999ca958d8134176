package clusterprofiles

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
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

// APIGroupVersion is the API the hub uses in a cluster of the role: an
// IronCore member serves networking.ironcore.dev and an apinet peer
// core.apinet.ironcore.dev, both through aggregated API servers.
func (r Role) APIGroupVersion() string {
	if r == RoleAPINet {
		return "core.apinet.ironcore.dev/v1alpha1"
	}
	return "networking.ironcore.dev/v1alpha1"
}

// Prober checks what the hub needs of a cluster, with the hub's own
// credentials: that its API server is ready (/readyz), that the API group
// the hub uses answers (an aggregated API server can be down while /readyz
// still answers), and which cluster the credentials reach (its Identity).
// Its HTTP client is built once per connection, so exec-plugin credentials
// are cached and refreshed by client-go as usual.
type Prober struct {
	client *http.Client
	host   string
	api    string
	role   Role
}

// NewProber makes a prober for a cluster of a role from a fully tuned
// rest.Config (its Timeout bounds each request).
func NewProber(cfg *rest.Config, role Role) (*Prober, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return NewProberFor(hc, cfg.Host, role), nil
}

// NewProberFor makes a prober that sends its requests through hc (an
// authenticated client of the cluster at host, whose Timeout bounds each
// request), e.g. over the transport the cluster's caches already use.
func NewProberFor(hc *http.Client, host string, role Role) *Prober {
	return &Prober{client: hc, host: strings.TrimSuffix(host, "/"), api: role.APIGroupVersion(), role: role}
}

// Probe returns the cluster's Identity if the cluster can do what the hub
// needs, else a Problem with the reason a
// failure of this kind gets.
func (p *Prober) Probe(ctx context.Context) (Identity, *Problem) {
	if _, problem := p.get(ctx, "/readyz"); problem != nil {
		return "", problem
	}
	if _, problem := p.get(ctx, "/apis/"+p.api); problem != nil {
		if problem.Reason == ReasonUnreachable {
			// The server answered /readyz a moment ago: it is the API
			// group behind it that does not.
			problem = problemf(ReasonAPIUnavailable, "the cluster answers, but its %s API does not (is its aggregated API server running?): %s", p.api, problem.Message)
		}
		return "", problem
	}
	if p.role == RoleIronCore {
		body, problem := p.get(ctx, apinetletLeasePath)
		if problem != nil {
			if problem.Reason == ReasonCredentialsInvalid {
				problem.Message = "the hub needs list on leases (coordination.k8s.io) to tell whether an apinetlet still runs for the cluster: " + problem.Message
			}
			return "", problem
		}
		if problem := ActiveAPINetlet(body, time.Now()); problem != nil {
			return "", problem
		}
	}
	body, problem := p.get(ctx, "/api/v1/namespaces/kube-system")
	if problem != nil {
		if problem.Reason == ReasonCredentialsInvalid {
			problem.Message = "the hub needs get on namespace kube-system to prove which cluster its credentials reach: " + problem.Message
		}
		return "", problem
	}
	id, err := ParseIdentity(body)
	if err != nil {
		return "", problemf(ReasonUnreachable, "read the cluster's identity: %v", err)
	}
	return id, nil
}

// get fetches a path and returns the body of a 200 answer.
func (p *Prober) get(ctx context.Context, path string) ([]byte, *Problem) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.host+path, nil)
	if err != nil {
		return nil, problemf(ReasonCredentialsInvalid, "probe %s: %v", p.host+path, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, ClassifyConnectionError(err, 0)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, ClassifyConnectionError(fmt.Errorf("GET %s: %w", path, err), 0)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, ClassifyConnectionError(fmt.Errorf("GET %s: %s", path, resp.Status), resp.StatusCode)
	}
	return body, nil
}

// ParseIdentity reads the Identity from a kube-system Namespace as the API
// server returns it (JSON): its metadata.uid, which the cluster keeps for
// its whole life and no other cluster has.
func ParseIdentity(body []byte) (Identity, error) {
	var ns struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &ns); err != nil {
		return "", fmt.Errorf("not a Namespace: %w", err)
	}
	switch {
	case ns.Kind != "Namespace" || ns.Metadata.Name != "kube-system":
		return "", fmt.Errorf("not the kube-system Namespace (kind %q, name %q)", ns.Kind, ns.Metadata.Name)
	case ns.Metadata.UID == "" || len(ns.Metadata.UID) > 128 || strings.ContainsAny(ns.Metadata.UID, " \t\n/"):
		return "", fmt.Errorf("kube-system has no usable uid (%q)", ns.Metadata.UID)
	}
	return Identity(ns.Metadata.UID), nil
}

// APINetletLease is the name of apinetlet's leader-election Lease
// (ironcore-net cmd/apinetlet, LeaderElectionID), in the namespace apinetlet
// runs in. apinetlet's own manifests run it with --leader-elect.
const APINetletLease = "fa89daf5.apinetlet.apinet.ironcore.dev"

// apinetletLeasePath lists apinetlet's Leases in every namespace.
var apinetletLeasePath = "/apis/coordination.k8s.io/v1/leases?fieldSelector=" + url.QueryEscape("metadata.name="+APINetletLease)

// ActiveAPINetlet reads a LeaseList (JSON, as GET apinetletLeasePath
// returns it) and returns ReasonAPINetletActive if one of apinetlet's Leases
// is held and was renewed within its duration at now. An unreadable answer
// is a problem too: the hub cannot tell, so it does not write.
func ActiveAPINetlet(body []byte, now time.Time) *Problem {
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				HolderIdentity       *string    `json:"holderIdentity"`
				LeaseDurationSeconds *int32     `json:"leaseDurationSeconds"`
				RenewTime            *time.Time `json:"renewTime"`
				AcquireTime          *time.Time `json:"acquireTime"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Kind != "LeaseList" {
		return problemf(ReasonUnreachable, "cannot tell whether an apinetlet still runs for the cluster: the Lease list does not parse (kind %q): %v", list.Kind, err)
	}
	for _, l := range list.Items {
		if l.Metadata.Name != APINetletLease || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			continue
		}
		renewed := l.Spec.RenewTime
		if renewed == nil {
			renewed = l.Spec.AcquireTime
		}
		duration := 15 * time.Second // client-go's default, if the Lease does not say
		if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
			duration = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
		}
		if renewed == nil || now.Sub(*renewed) >= duration {
			continue // expired: apinetlet stopped (it does not release its Lease)
		}
		return problemf(ReasonAPINetletActive, "an apinetlet still runs for this cluster: %q renewed its leader-election Lease %s/%s %s ago (lease duration %s). It writes the same objects under the same field manager as the hub, so the hub writes nothing for the member while it runs. Stop apinetlet (scale its Deployment to 0); the hub engages once the Lease has expired",
			*l.Spec.HolderIdentity, l.Metadata.Namespace, l.Metadata.Name, now.Sub(*renewed).Round(time.Second), duration)
	}
	return nil
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

// Close releases the idle connections of the prober's transport, through
// client-go's transport wrappers.
func (p *Prober) Close() { utilnet.CloseIdleConnectionsFor(p.client.Transport) }
