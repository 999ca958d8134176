package clusterprofiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The Cluster Inventory credential Secret convention.
const (
	LabelSecretConsumer = "x-k8s.io/cluster-inventory-consumer"
	LabelSecretProfile  = "x-k8s.io/cluster-profile"
	SecretKeyConfig     = "Config"
	// DefaultConsumer is the consumer name the hub looks for on Secrets.
	DefaultConsumer = "apinet-hub"
)

// Credentials is how the hub connects to one cluster.
type Credentials struct {
	// Config carries server, TLS and authentication; transport tuning
	// (timeouts, QPS) is the caller's.
	Config *rest.Config
	// Hash identifies everything that defines the connection. Equal hashes
	// mean the existing connection can stay.
	Hash string
	// Source says where the credentials came from, for messages.
	Source string
}

// CredentialResolver finds a cluster's credentials: first a Cluster Inventory
// access provider (exec plugin; client-go refreshes its credentials, so
// rotation needs no rebuild), then the labelled credential Secret.
type CredentialResolver struct {
	// Access holds the access providers from the provider file; nil if none.
	Access *access.Config
	// Consumer is the x-k8s.io/cluster-inventory-consumer value of Secrets.
	Consumer string
	// Secrets reads Secrets; the hub's cache holds only the watched
	// namespaces and only Secrets labelled for this consumer.
	Secrets client.Reader
	// Indexed says Secrets is a cache with IndexSecretProfile registered
	// (IndexCredentialSecrets): a profile's Secret is then found through
	// the index, not by matching the labels of every Secret of the
	// namespace (one per member: O(members) on each of the provider's
	// reconciles). Without it (a live client) the labels select
	// server-side.
	Indexed bool

	mu sync.Mutex
	// parsed holds the rest.Config of each credential Secret's kubeconfig
	// by its content, so that a profile reconciled again does not parse
	// the same kubeconfig again (that was a fifth of the hub's CPU at a
	// cold start of 500 members). At most maxParsed entries: a full memo
	// starts afresh, and each Secret costs one parse more.
	parsed map[[sha256.Size]byte]*rest.Config
}

// maxParsed bounds CredentialResolver.parsed: a few KiB an entry.
const maxParsed = 4096

// IndexSecretProfile indexes the hub's Secrets by "consumer/profile", the
// values of their LabelSecretConsumer and LabelSecretProfile labels.
const IndexSecretProfile = "apinet-hub.ironcore.dev/credential-profile"

// IndexCredentialSecrets registers IndexSecretProfile on the hub's cache.
func IndexCredentialSecrets(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &corev1.Secret{}, IndexSecretProfile, func(o client.Object) []string {
		labels := o.GetLabels()
		consumer, profile := labels[LabelSecretConsumer], labels[LabelSecretProfile]
		if consumer == "" || profile == "" {
			return nil
		}
		return []string{consumer + "/" + profile}
	})
}

// Resolve returns the credentials of a profile, or the Problem that stops the
// hub from having any.
func (r *CredentialResolver) Resolve(ctx context.Context, cp *clusterinventoryv1alpha1.ClusterProfile) (*Credentials, *Problem) {
	if creds, problem := r.fromAccessProvider(cp); creds != nil || problem != nil {
		return creds, problem
	}
	secrets := &corev1.SecretList{}
	var match client.ListOption = client.MatchingLabels{LabelSecretConsumer: r.Consumer, LabelSecretProfile: cp.Name}
	if r.Indexed {
		match = client.MatchingFields{IndexSecretProfile: r.Consumer + "/" + cp.Name}
	}
	if err := r.Secrets.List(ctx, secrets, client.InNamespace(cp.Namespace), match); err != nil {
		return nil, problemf(ReasonCredentialsMissing, "list credential Secrets: %v", err)
	}
	switch len(secrets.Items) {
	case 0:
		return nil, problemf(ReasonCredentialsMissing,
			"no access provider of the hub's provider file matches the profile's status.accessProviders %v, and no Secret in namespace %s is labelled %s=%s and %s=%s",
			accessProviderNames(cp), cp.Namespace, LabelSecretConsumer, r.Consumer, LabelSecretProfile, cp.Name)
	case 1:
	default:
		names := make([]string, 0, len(secrets.Items))
		for _, s := range secrets.Items {
			names = append(names, s.Name)
		}
		sort.Strings(names)
		return nil, problemf(ReasonCredentialsInvalid, "%d credential Secrets match (%s); keep exactly one", len(names), strings.Join(names, ", "))
	}
	secret := &secrets.Items[0]
	data, ok := secret.Data[SecretKeyConfig]
	if !ok {
		return nil, problemf(ReasonCredentialsInvalid, "Secret %s/%s has no key %q holding a kubeconfig", secret.Namespace, secret.Name, SecretKeyConfig)
	}
	sum := sha256.Sum256(data)
	cfg, err := r.parse(sum, data)
	if err != nil {
		return nil, problemf(ReasonCredentialsInvalid, "Secret %s/%s: %v", secret.Namespace, secret.Name, err)
	}
	return &Credentials{Config: cfg, Hash: "secret:" + hex.EncodeToString(sum[:]), Source: "Secret " + secret.Namespace + "/" + secret.Name}, nil
}

// parse is RESTConfigFromSecretKubeconfig(data), remembered by data's
// digest sum; each caller gets a copy of its own (callers tune it). A
// kubeconfig that does not parse is not remembered: its error is reported
// again on each reconcile, at the cost of a parse.
func (r *CredentialResolver) parse(sum [sha256.Size]byte, data []byte) (*rest.Config, error) {
	r.mu.Lock()
	cfg, ok := r.parsed[sum]
	r.mu.Unlock()
	if ok {
		return rest.CopyConfig(cfg), nil
	}
	cfg, err := RESTConfigFromSecretKubeconfig(data)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.parsed == nil || len(r.parsed) >= maxParsed {
		r.parsed = map[[sha256.Size]byte]*rest.Config{}
	}
	r.parsed[sum] = cfg
	r.mu.Unlock()
	return rest.CopyConfig(cfg), nil
}

// RESTConfigFromSecretKubeconfig turns the kubeconfig of a credential Secret
// into a rest.Config. Such a kubeconfig comes from whoever can write Secrets
// in a fleet namespace, so it may carry only inline data: no file paths, exec
// plugins or auth-provider plugins, which would run or read things on the hub.
// Use an access provider for exec plugins.
func RESTConfigFromSecretKubeconfig(data []byte) (*rest.Config, error) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig does not parse: %w", err)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		for name := range kc.Contexts {
			ctxName = name
		}
	}
	kctx, ok := kc.Contexts[ctxName]
	if !ok || kctx == nil {
		return nil, fmt.Errorf("kubeconfig has no current-context (or it names no context)")
	}
	cluster, ok := kc.Clusters[kctx.Cluster]
	if !ok || cluster == nil || cluster.Server == "" {
		return nil, fmt.Errorf("context %q names cluster %q, which is missing or has no server", ctxName, kctx.Cluster)
	}
	if cluster.CertificateAuthority != "" {
		return nil, fmt.Errorf("cluster %q reads its CA from a file; inline it as certificate-authority-data", kctx.Cluster)
	}
	if u, err := url.Parse(cluster.Server); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cluster %q server %q is not an https URL", kctx.Cluster, cluster.Server)
	}
	if user, ok := kc.AuthInfos[kctx.AuthInfo]; ok && user != nil {
		switch {
		case user.Exec != nil, user.AuthProvider != nil:
			return nil, fmt.Errorf("user %q uses an exec or auth-provider plugin, which a credential Secret may not; configure an access provider instead", kctx.AuthInfo)
		case user.ClientCertificate != "", user.ClientKey != "", user.TokenFile != "":
			return nil, fmt.Errorf("user %q reads credentials from files; inline them (client-certificate-data, client-key-data, token)", kctx.AuthInfo)
		}
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*kc, ctxName, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// fromAccessProvider builds credentials from the first access provider of
// the provider file that the profile offers. (nil, nil): none applies.
func (r *CredentialResolver) fromAccessProvider(cp *clusterinventoryv1alpha1.ClusterProfile) (*Credentials, *Problem) {
	if r.Access == nil {
		return nil, nil
	}
	accessor := pickAccessProvider(r.Access, cp)
	if accessor == nil {
		return nil, nil
	}
	// BuildConfigFromCP appends profile-sourced args to the provider's own
	// ExecConfig; work on a copy so that the shared config never grows.
	cfg, err := buildConfigFromCP(copyAccessConfig(r.Access), cp)
	if err != nil {
		return nil, problemf(ReasonCredentialsInvalid, "access provider %q: %v", accessor.Name, err)
	}
	// Carry over what BuildConfigFromCP leaves out, and replace its proxy
	// closure (which cannot be compared) by a plain URL.
	cfg.TLSClientConfig.ServerName = accessor.Cluster.TLSServerName
	cfg.TLSClientConfig.Insecure = accessor.Cluster.InsecureSkipTLSVerify
	cfg.Proxy = nil
	if accessor.Cluster.ProxyURL != "" {
		proxy, err := url.Parse(accessor.Cluster.ProxyURL)
		if err != nil {
			return nil, problemf(ReasonCredentialsInvalid, "access provider %q: proxy-url %q: %v", accessor.Name, accessor.Cluster.ProxyURL, err)
		}
		cfg.Proxy = http.ProxyURL(proxy)
	}
	if u, err := url.Parse(cfg.Host); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, problemf(ReasonCredentialsInvalid, "access provider %q: server %q is not an https URL", accessor.Name, cfg.Host)
	}
	return &Credentials{Config: cfg, Hash: "access:" + accessHash(accessor.Name, accessor.Cluster.ProxyURL, cfg), Source: "access provider " + accessor.Name}, nil
}

// buildConfigFromCP is access.Config.BuildConfigFromCP with a panic turned
// into an error. cluster-inventory-api v0.1.2 panics (assignment to a nil
// map) when a profile's additional-envs exec extension is empty or null and
// the provider's exec config sets env vars under the Replace or
// AppendIfNotExists policy. Extensions come from whoever writes the
// profile's status; they must not crash the hub's reconcile.
func buildConfigFromCP(cfg *access.Config, cp *clusterinventoryv1alpha1.ClusterProfile) (rc *rest.Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			rc, err = nil, fmt.Errorf("the profile's exec extensions cannot be processed: %v", p)
		}
	}()
	return cfg.BuildConfigFromCP(cp)
}

// pickAccessProvider mirrors access.Config's choice: the first provider of
// the file that the profile offers; accessProviders win over the
// deprecated credentialProviders of the same name.
func pickAccessProvider(cfg *access.Config, cp *clusterinventoryv1alpha1.ClusterProfile) *clusterinventoryv1alpha1.AccessProvider {
	offered := map[string]*clusterinventoryv1alpha1.AccessProvider{}
	for i := range cp.Status.CredentialProviders {
		offered[cp.Status.CredentialProviders[i].Name] = &cp.Status.CredentialProviders[i]
	}
	for i := range cp.Status.AccessProviders {
		offered[cp.Status.AccessProviders[i].Name] = &cp.Status.AccessProviders[i]
	}
	for _, p := range cfg.Providers {
		if a, ok := offered[p.Name]; ok && p.ExecConfig != nil {
			return a
		}
	}
	return nil
}

func accessProviderNames(cp *clusterinventoryv1alpha1.ClusterProfile) []string {
	var names []string
	for _, a := range append(cp.Status.AccessProviders, cp.Status.CredentialProviders...) {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

func copyAccessConfig(in *access.Config) *access.Config {
	out := &access.Config{Providers: make([]access.Provider, len(in.Providers))}
	for i, p := range in.Providers {
		out.Providers[i] = p
		if p.ExecConfig != nil {
			out.Providers[i].ExecConfig = p.ExecConfig.DeepCopy()
		}
	}
	return out
}

// accessHash is a canonical hash of what defines an access-provider
// connection: server, CA, TLS name, proxy and the exec plugin (command, args,
// env sorted by name, plugin config). rest.Config itself cannot be compared:
// it holds funcs.
func accessHash(provider, proxyURL string, cfg *rest.Config) string {
	type envVar struct{ Name, Value string }
	canon := struct {
		Provider, Server, ServerName, ProxyURL string
		Insecure                               bool
		CA                                     []byte
		APIVersion, Command                    string
		Args                                   []string
		Env                                    []envVar
		ProvideClusterInfo                     bool
		PluginConfig                           string
	}{
		Provider: provider, Server: cfg.Host, ServerName: cfg.ServerName, ProxyURL: proxyURL,
		Insecure: cfg.Insecure, CA: cfg.CAData,
	}
	if e := cfg.ExecProvider; e != nil {
		canon.APIVersion, canon.Command, canon.Args, canon.ProvideClusterInfo = e.APIVersion, e.Command, e.Args, e.ProvideClusterInfo
		for _, v := range e.Env {
			canon.Env = append(canon.Env, envVar{v.Name, v.Value})
		}
		sort.Slice(canon.Env, func(i, j int) bool { return canon.Env[i].Name < canon.Env[j].Name })
		if e.Config != nil {
			if raw, err := json.Marshal(e.Config); err == nil {
				canon.PluginConfig = string(raw)
			}
		}
	}
	raw, _ := json.Marshal(canon)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
