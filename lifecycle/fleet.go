package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// This file is the declarative form of onboarding: a fleet file, kept in
// Git, that `apinet-hub onboard -f` applies cluster by cluster and that
// `apinet-hub export` writes from the profiles on the hub.

// FleetAPIVersion and FleetKind head a fleet file.
const (
	FleetAPIVersion = "apinet-hub.ironcore.dev/v1alpha1"
	FleetKind       = "Fleet"
)

// maxFleetFile bounds the size of a fleet file.
const maxFleetFile = 4 << 20

// Fleet is a fleet file: the clusters of one hub namespace.
type Fleet struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is the hub namespace of the profiles (onboard's --namespace;
	// the flag, if given, must agree).
	Namespace string `json:"namespace,omitempty"`
	// Clusters, in any order: onboard -f applies the apinet clusters first.
	Clusters []FleetCluster `json:"clusters"`
}

// FleetCluster is one cluster of a fleet: what `apinet-hub onboard` takes
// as flags for one cluster.
type FleetCluster struct {
	// Name of the ClusterProfile, a DNS label.
	Name string `json:"name"`
	// Role is ironcore or apinet.
	Role clusterprofiles.Role `json:"role"`
	// Peer is the apinet profile an IronCore cluster maps into.
	Peer string `json:"peer,omitempty"`
	// APINetNamespace is the IronCore cluster's namespace in its peer
	// (annotation apinet-namespace).
	APINetNamespace string `json:"apinetNamespace,omitempty"`
	// TakeOver lets the hub adopt apinetlet's namespace (annotation
	// take-over).
	TakeOver bool `json:"takeOver,omitempty"`
	// Settings are further annotations of the profile, in the hub's domain
	// (apinet-hub.ironcore.dev/): NAT limits, handback-layout, and so on
	// (docs/clusterprofiles.md).
	Settings map[string]string `json:"settings,omitempty"`
	// Credentials say how the hub reaches the cluster.
	Credentials FleetCredentials `json:"credentials"`
}

// FleetCredentials is a reference to a cluster's credentials, never the
// credentials themselves.
type FleetCredentials struct {
	// Kubeconfig is a file, relative to the fleet file's directory; empty
	// means $KUBECONFIG, then ~/.kube/config. With AccessProvider it gives
	// the cluster's server and CA only.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context of Kubeconfig; empty means its current context.
	Context string `json:"context,omitempty"`
	// AccessProvider, if set, writes no Secret: the hub reaches the cluster
	// through this provider of its --clusterprofile-provider-file.
	AccessProvider string `json:"accessProvider,omitempty"`
	// CreateServiceAccount stores a token of a ServiceAccount of the hub,
	// made with the kubeconfig's credentials, instead of those credentials.
	CreateServiceAccount bool `json:"createServiceAccount,omitempty"`
}

// ParseFleet decodes a fleet file strictly: an unknown or duplicate field,
// a wrong apiVersion or kind, or two clusters of one name is an error that
// names the entry. What each entry means is checked by
// FleetCluster.Validate, so that one bad entry does not keep the others from
// being applied.
func ParseFleet(data []byte) (*Fleet, error) {
	if len(data) > maxFleetFile {
		return nil, fmt.Errorf("fleet file is larger than %d bytes", maxFleetFile)
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Namespace  string            `json:"namespace,omitempty"`
		Clusters   []json.RawMessage `json:"clusters"`
	}
	if err := yaml.UnmarshalStrict(data, &head); err != nil {
		return nil, fmt.Errorf("fleet file: %w", err)
	}
	if head.APIVersion != FleetAPIVersion || head.Kind != FleetKind {
		return nil, fmt.Errorf("fleet file: apiVersion %q, kind %q; want apiVersion %s, kind %s", head.APIVersion, head.Kind, FleetAPIVersion, FleetKind)
	}
	if head.Namespace != "" {
		if e := validation.IsDNS1123Label(head.Namespace); len(e) > 0 {
			return nil, fmt.Errorf("fleet file: namespace %q is not a namespace name: %s", head.Namespace, strings.Join(e, "; "))
		}
	}
	fl := &Fleet{APIVersion: head.APIVersion, Kind: head.Kind, Namespace: head.Namespace}
	seen := map[string]int{}
	for i, raw := range head.Clusters {
		var c FleetCluster
		if err := yaml.UnmarshalStrict(raw, &c); err != nil {
			return nil, fmt.Errorf("fleet file: %s: %w", entryName(i, raw), err)
		}
		if c.Name == "" {
			return nil, fmt.Errorf("fleet file: clusters[%d]: no name", i)
		}
		if j, ok := seen[c.Name]; ok {
			return nil, fmt.Errorf("fleet file: clusters[%d] and clusters[%d] are both named %q", j, i, c.Name)
		}
		seen[c.Name] = i
		fl.Clusters = append(fl.Clusters, c)
	}
	return fl, nil
}

// entryName names entry i of a fleet for an error: its index, and its name
// if it has one.
func entryName(i int, raw json.RawMessage) string {
	var named struct {
		Name any `json:"name"`
	}
	if json.Unmarshal(raw, &named) == nil {
		if s, ok := named.Name.(string); ok && s != "" {
			return fmt.Sprintf("clusters[%d] (%s)", i, s)
		}
	}
	return fmt.Sprintf("clusters[%d]", i)
}

// notSettings are the hub's annotations a fleet's settings may not hold:
// the ones with a field of their own, and the ones the hub and offboard
// write themselves.
var notSettings = map[string]string{
	clusterprofiles.AnnotationAPINetNamespace:  "use apinetNamespace",
	clusterprofiles.AnnotationTakeOver:         "use takeOver",
	clusterprofiles.AnnotationOffboarding:      "offboard writes it",
	clusterprofiles.AnnotationLiftDeletionHold: "offboard writes it",
	clusterprofiles.AnnotationOwnerClusterUID:  "the hub writes it",
	clusterprofiles.AnnotationOwnerProfile:     "the hub writes it",
	clusterprofiles.AnnotationTakenOver:        "the hub writes it",
}

// settingsPrefix is the domain of the hub's annotations.
const settingsPrefix = "apinet-hub.ironcore.dev/"

// Validate checks one entry alone, as onboard checks its flags: name, role,
// peer, apinetNamespace, takeOver, the settings' keys and the credentials'
// shape. The settings' values are checked by Onboarding.Validate.
func (c *FleetCluster) Validate() error {
	var errs []string
	if e := validation.IsDNS1123Label(c.Name); len(e) > 0 {
		errs = append(errs, fmt.Sprintf("name %q is not a DNS label: %s", c.Name, strings.Join(e, "; ")))
	}
	switch c.Role {
	case clusterprofiles.RoleIronCore:
		if c.Peer == "" {
			errs = append(errs, "peer is required for role ironcore: name the apinet cluster it maps into")
		} else if e := validation.IsDNS1123Label(c.Peer); len(e) > 0 {
			errs = append(errs, fmt.Sprintf("peer %q is not a ClusterProfile name: %s", c.Peer, strings.Join(e, "; ")))
		}
		if c.APINetNamespace != "" {
			if e := validation.IsDNS1123Label(c.APINetNamespace); len(e) > 0 {
				errs = append(errs, fmt.Sprintf("apinetNamespace %q is not a namespace name: %s", c.APINetNamespace, strings.Join(e, "; ")))
			} else if clusterprofiles.SystemNamespace(c.APINetNamespace) {
				errs = append(errs, fmt.Sprintf("apinetNamespace %q is a system namespace of the peer", c.APINetNamespace))
			}
		}
	case clusterprofiles.RoleAPINet:
		if c.Peer != "" {
			errs = append(errs, "peer applies to role ironcore only")
		}
		if c.APINetNamespace != "" {
			errs = append(errs, "apinetNamespace applies to role ironcore only")
		}
		if c.TakeOver {
			errs = append(errs, "takeOver applies to role ironcore only")
		}
	case "":
		errs = append(errs, "role is required: ironcore or apinet")
	default:
		errs = append(errs, fmt.Sprintf("role %q is not ironcore or apinet", c.Role))
	}
	for _, k := range sortedKeys(c.Settings) {
		if why, ok := notSettings[k]; ok {
			errs = append(errs, fmt.Sprintf("settings: %s is not a setting (%s)", k, why))
		} else if !strings.HasPrefix(k, settingsPrefix) {
			errs = append(errs, fmt.Sprintf("settings: %s is not an annotation of the hub (%s...)", k, settingsPrefix))
		} else if e := validation.IsQualifiedName(k); len(e) > 0 {
			errs = append(errs, fmt.Sprintf("settings: %q is not an annotation name: %s", k, strings.Join(e, "; ")))
		}
	}
	cr := c.Credentials
	if cr.AccessProvider != "" && cr.CreateServiceAccount {
		errs = append(errs, "credentials: accessProvider and createServiceAccount exclude each other")
	}
	if strings.ContainsRune(cr.Kubeconfig, 0) {
		errs = append(errs, "credentials: kubeconfig is not a file name")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// FleetNamespace is the hub namespace of onboard -f: the fleet file's
// namespace or flagNamespace (--namespace); both given, they must agree.
// Its errors are InputErrors.
func FleetNamespace(flagNamespace, fileNamespace string) (string, error) {
	switch {
	case flagNamespace != "" && fileNamespace != "" && flagNamespace != fileNamespace:
		return "", InputError{fmt.Errorf("--namespace %q differs from the fleet file's namespace %q", flagNamespace, fileNamespace)}
	case fileNamespace != "":
		return fileNamespace, nil
	case flagNamespace != "":
		return flagNamespace, nil
	default:
		return "", InputError{errors.New("the fleet file names no namespace: pass --namespace")}
	}
}

// KubeconfigPath is c's kubeconfig file resolved against dir, the fleet
// file's directory; "" if c names none.
func (c *FleetCluster) KubeconfigPath(dir string) string {
	p := c.Credentials.Kubeconfig
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Ordered is the fleet's clusters in the order onboard -f applies them:
// apinet clusters first (the IronCore clusters' peers must exist), each
// group in file order.
func (f *Fleet) Ordered() []FleetCluster {
	out := make([]FleetCluster, 0, len(f.Clusters))
	for _, c := range f.Clusters {
		if c.Role == clusterprofiles.RoleAPINet {
			out = append(out, c)
		}
	}
	for _, c := range f.Clusters {
		if c.Role != clusterprofiles.RoleAPINet {
			out = append(out, c)
		}
	}
	return out
}

// ClusterOutcome is what applying one cluster of a fleet did.
type ClusterOutcome struct {
	Name    string
	Applied []Applied
	Err     error
}

// Result sums up the objects: created if the profile was created,
// configured if any object changed, else unchanged.
func (o ClusterOutcome) Result() Result {
	result := Unchanged
	for _, a := range o.Applied {
		switch {
		case a.Kind == "clusterprofile" && a.Result == Created:
			return Created
		case a.Result != Unchanged:
			result = Configured
		}
	}
	return result
}

// String is the cluster's line of onboard -f's report.
func (o ClusterOutcome) String() string {
	if o.Err != nil {
		return fmt.Sprintf("%s failed: %v", o.Name, o.Err)
	}
	parts := make([]string, 0, len(o.Applied))
	for _, a := range o.Applied {
		parts = append(parts, fmt.Sprintf("%s %s", a.Kind, a.Result))
	}
	return fmt.Sprintf("%s %s (%s)", o.Name, o.Result(), strings.Join(parts, ", "))
}

// ApplyFleet applies every cluster of f in Ordered order with apply (the
// single-cluster path of onboard), each entry checked by Validate first.
// A failed cluster is reported in its outcome and the others are still
// applied; an IronCore cluster whose peer failed in this run is not tried.
func ApplyFleet(ctx context.Context, f *Fleet, apply func(context.Context, FleetCluster) ([]Applied, error)) []ClusterOutcome {
	failed := map[string]bool{}
	var out []ClusterOutcome
	for _, c := range f.Ordered() {
		o := ClusterOutcome{Name: c.Name}
		switch {
		case ctx.Err() != nil:
			o.Err = ctx.Err()
		case c.Validate() != nil:
			o.Err = c.Validate()
		case c.Role == clusterprofiles.RoleIronCore && failed[c.Peer]:
			o.Err = fmt.Errorf("peer %s failed above", c.Peer)
		default:
			o.Applied, o.Err = apply(ctx, c)
		}
		if o.Err != nil {
			failed[c.Name] = true
		}
		out = append(out, o)
	}
	return out
}

// FleetClusterFromProfile is the fleet entry of a profile on the hub, for
// `apinet-hub export`: role, peer, apinet namespace, take-over and the hub's
// settings from its labels and annotations; credentials as a reference for
// the user to fill (kubeconfig "<name>.kubeconfig"), or the access
// provider's name. serviceAccount tells that the profile's Secret holds a
// token onboard made (createServiceAccount). Nothing of a Secret's content
// is read.
func FleetClusterFromProfile(cp *clusterinventoryv1alpha1.ClusterProfile, serviceAccount bool) FleetCluster {
	c := FleetCluster{
		Name: cp.Name,
		Role: clusterprofiles.Role(cp.Labels[clusterprofiles.LabelRole]),
		Peer: cp.Labels[clusterprofiles.LabelPeer],
	}
	for k, v := range cp.Annotations {
		switch {
		case k == clusterprofiles.AnnotationAPINetNamespace:
			c.APINetNamespace = v
		case k == clusterprofiles.AnnotationTakeOver:
			c.TakeOver = v == "true"
		case notSettings[k] != "" || !strings.HasPrefix(k, settingsPrefix):
		default:
			if c.Settings == nil {
				c.Settings = map[string]string{}
			}
			c.Settings[k] = v
		}
	}
	c.Credentials.Kubeconfig = cp.Name + ".kubeconfig"
	if len(cp.Status.AccessProviders) > 0 {
		c.Credentials.AccessProvider = cp.Status.AccessProviders[0].Name
	} else {
		c.Credentials.CreateServiceAccount = serviceAccount
	}
	return c
}

// ExportFleet is the fleet file of the given profiles in namespace, sorted
// by name; serviceAccount tells, by profile name, which ones hold a token
// onboard made.
func ExportFleet(namespace string, profiles []clusterinventoryv1alpha1.ClusterProfile, serviceAccount map[string]bool) *Fleet {
	f := &Fleet{APIVersion: FleetAPIVersion, Kind: FleetKind, Namespace: namespace, Clusters: []FleetCluster{}}
	for i := range profiles {
		f.Clusters = append(f.Clusters, FleetClusterFromProfile(&profiles[i], serviceAccount[profiles[i].Name]))
	}
	sort.SliceStable(f.Clusters, func(i, j int) bool { return f.Clusters[i].Name < f.Clusters[j].Name })
	return f
}

// StoredToken is, for onboard -f with createServiceAccount, the token
// already stored in a profile's credential Secret if applying the fleet again
// may keep it rather than mint a new one: the Secret holds a token of
// access's ServiceAccount (annotation service-account), and the kubeconfig
// TokenKubeconfig makes from context of kc with that token is exactly the
// stored one (same server, CA, context). It returns that kubeconfig and the
// Secret's token annotations; ok is false if the token cannot be kept. The
// caller still checks that the cluster accepts the token.
func StoredToken(secret *corev1.Secret, kc *clientcmdapi.Config, context string, access ServiceAccountAccess) (kubeconfig []byte, annotations map[string]string, ok bool) {
	if secret == nil || secret.Annotations[AnnotationServiceAccount] != access.Namespace+"/"+access.Name || secret.Annotations[AnnotationTokenAnchor] == "" {
		return nil, nil, false
	}
	stored := secret.Data[clusterprofiles.SecretKeyConfig]
	skc, err := clientcmd.Load(stored)
	if err != nil {
		return nil, nil, false
	}
	kctx := skc.Contexts[skc.CurrentContext]
	if kctx == nil || skc.AuthInfos[kctx.AuthInfo] == nil || skc.AuthInfos[kctx.AuthInfo].Token == "" {
		return nil, nil, false
	}
	want, err := TokenKubeconfig(kc, context, skc.AuthInfos[kctx.AuthInfo].Token)
	if err != nil || !bytes.Equal(want, stored) {
		return nil, nil, false
	}
	return want, map[string]string{
		AnnotationServiceAccount: secret.Annotations[AnnotationServiceAccount],
		AnnotationTokenAnchor:    secret.Annotations[AnnotationTokenAnchor],
	}, true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
