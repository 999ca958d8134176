package fleet

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
)

// ListFilter is a loopback HTTPS reverse proxy in front of a cluster's
// kube-apiserver that hides chosen objects of one resource from LIST and
// WATCH answers, while a GET of such an object still finds it: a client's
// cache (an informer) behind it lacks the objects the live API serves, as
// behind a lagging watch cache or a relist that dropped them.
//
// Unlike DelayProxy it terminates TLS (its own certificate, CAData) and
// rewrites responses, so only bearer-token credentials pass through (client
// certificates do not): use it with a token kubeconfig such as
// Cluster.HubKubeconfig, rewritten by KubeconfigVia. It asks the server for
// JSON on the filtered requests and leaves every other request untouched.
type ListFilter struct {
	srv      *httptest.Server
	resource string

	mu     sync.Mutex
	hidden map[types.NamespacedName]bool
}

// StartListFilter starts a ListFilter in front of cluster c for resource
// (the plural of the URL path, e.g. "networks"), hiding nothing yet.
func StartListFilter(c *Cluster, resource string) (*ListFilter, error) {
	target, err := url.Parse(c.Host())
	if err != nil {
		return nil, fmt.Errorf("list filter for %s: %w", c.Name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CAData()) {
		return nil, fmt.Errorf("list filter for %s: no CA certificate", c.Name)
	}
	f := &ListFilter{resource: resource, hidden: map[types.NamespacedName]bool{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if f.filters(pr.In) {
				pr.Out.Header.Set("Accept", "application/json")
				// The transport asks for gzip itself and unzips.
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: target.Hostname(), MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		FlushInterval:  -1, // watch events as they come
		ModifyResponse: f.modify,
	}
	f.srv = httptest.NewUnstartedServer(proxy)
	f.srv.StartTLS()
	return f, nil
}

// Hide hides the object namespace/name (namespace "" for a cluster-scoped
// one) from LIST and WATCH answers from now on.
func (f *ListFilter) Hide(namespace, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hidden[types.NamespacedName{Namespace: namespace, Name: name}] = true
}

// ShowAll hides nothing any more (for answers from now on).
func (f *ListFilter) ShowAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.hidden)
}

// URL is the proxy's https URL (127.0.0.1 and a free port).
func (f *ListFilter) URL() string { return f.srv.URL }

// CAData is the PEM certificate the proxy serves, to trust it.
func (f *ListFilter) CAData() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

// KubeconfigVia returns kubeconfig with its current cluster pointed at the
// proxy and trusting its certificate; the user (a token) stays.
func (f *ListFilter) KubeconfigVia(kubeconfig []byte) ([]byte, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig via list filter: %w", err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok || cfg.Clusters[ctx.Cluster] == nil {
		return nil, errors.New("kubeconfig via list filter: no current cluster")
	}
	cl := cfg.Clusters[ctx.Cluster]
	cl.Server, cl.CertificateAuthorityData, cl.CertificateAuthority, cl.TLSServerName = f.URL(), f.CAData(), "", ""
	return clientcmd.Write(*cfg)
}

// Close stops the proxy and closes its connections.
func (f *ListFilter) Close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// filters tells whether a request lists or watches the filtered resource
// (a collection path, in one namespace or all).
func (f *ListFilter) filters(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/"+f.resource)
}

func (f *ListFilter) modify(resp *http.Response) error {
	if !f.filters(resp.Request) || resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	if w := resp.Request.URL.Query().Get("watch"); w == "true" || w == "1" {
		resp.Body = f.filterWatch(resp.Body)
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	var list map[string]json.RawMessage
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("list filter: %w", err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list["items"], &items); err == nil && list["items"] != nil {
		kept := items[:0]
		for _, item := range items {
			if !f.hides(item) {
				kept = append(kept, item)
			}
		}
		if list["items"], err = json.Marshal(kept); err != nil {
			return err
		}
		if data, err = json.Marshal(list); err != nil {
			return err
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	return nil
}

// hides tells whether a JSON object is one of the hidden ones.
func (f *ListFilter) hides(obj json.RawMessage) bool {
	var o struct {
		Metadata struct{ Namespace, Name string } `json:"metadata"`
	}
	if json.Unmarshal(obj, &o) != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hidden[types.NamespacedName{Namespace: o.Metadata.Namespace, Name: o.Metadata.Name}]
}

// filterWatch passes a JSON watch stream on, without the events of hidden
// objects. Closing the result closes the server's stream.
func (f *ListFilter) filterWatch(body io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer func() { _ = body.Close() }()
		dec := json.NewDecoder(body)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				pw.CloseWithError(err)
				return
			}
			var ev struct {
				Object json.RawMessage `json:"object"`
			}
			if json.Unmarshal(raw, &ev) == nil && f.hides(ev.Object) {
				continue
			}
			if _, err := pw.Write(append(raw, '\n')); err != nil {
				return
			}
		}
	}()
	return &watchBody{PipeReader: pr, upstream: body}
}

type watchBody struct {
	*io.PipeReader
	upstream io.Closer
}

func (w *watchBody) Close() error {
	_ = w.upstream.Close()
	return w.PipeReader.Close()
}
