package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// This file is the writing side of the conventions that clusterprofiles'
// profile.go and credentials.go read: what a cluster manager puts on the hub
// to hand a cluster to apinet-hub. `apinet-hub onboard` and the test fleet
// both build their objects here, so what they write is what the hub reads.

// CredentialSecretName is the name of a profile's credential Secret. The hub
// finds the Secret by its labels, not by this name.
func CredentialSecretName(profile string) string { return profile + "-credentials" }

// RoleLabels are the labels the hub reads on a profile of the given role;
// peer (the apinet profile an IronCore cluster maps into) is left out when
// empty.
func RoleLabels(role clusterprofiles.Role, peer string) map[string]string {
	labels := map[string]string{clusterprofiles.LabelRole: string(role)}
	if peer != "" {
		labels[clusterprofiles.LabelPeer] = peer
	}
	return labels
}

// Onboarding is one cluster as a cluster manager hands it to the hub: a
// ClusterProfile and, when the hub reaches the cluster with a kubeconfig
// rather than an access provider, the profile's credential Secret.
type Onboarding struct {
	// Namespace and Name of the ClusterProfile on the hub.
	Namespace, Name string
	// ClusterManager is the profile's spec.clusterManager.name.
	ClusterManager string
	// Labels and Annotations of the profile (RoleLabels builds the labels the
	// hub needs).
	Labels, Annotations map[string]string
	// TakeOver writes clusterprofiles.AnnotationTakeOver: "true" on the profile of an
	// IronCore cluster, so that the hub adopts an apinet namespace that
	// apinetlet (or another writer) filled. Left false, the annotation is
	// not written, and Apply removes it if an earlier Apply wrote it.
	TakeOver bool
	// Consumer is the x-k8s.io/cluster-inventory-consumer label of the Secret;
	// empty means clusterprofiles.DefaultConsumer.
	Consumer string
	// Kubeconfig is the Secret's kubeconfig (see CredentialKubeconfig); nil
	// means no Secret.
	Kubeconfig []byte
	// CredentialAnnotations go on the Secret (TokenAnnotations).
	CredentialAnnotations map[string]string
	// AccessProviders become the profile's status.accessProviders: how the
	// hub reaches the cluster through its --clusterprofile-provider-file.
	AccessProviders []clusterinventoryv1alpha1.AccessProvider
}

// ClusterProfile is the profile of o.
func (o *Onboarding) ClusterProfile() *clusterinventoryv1alpha1.ClusterProfile {
	cp := &clusterinventoryv1alpha1.ClusterProfile{
		TypeMeta: metav1.TypeMeta{APIVersion: clusterinventoryv1alpha1.GroupVersion.String(), Kind: "ClusterProfile"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: o.Namespace, Name: o.Name,
			Labels: copyMap(o.Labels), Annotations: copyMap(o.Annotations),
		},
		Spec: clusterinventoryv1alpha1.ClusterProfileSpec{
			ClusterManager: clusterinventoryv1alpha1.ClusterManager{Name: o.ClusterManager},
		},
	}
	if o.ClusterManager != "" {
		// The label the Cluster Inventory API recommends beside
		// spec.clusterManager, so that consumers select by manager.
		if cp.Labels == nil {
			cp.Labels = map[string]string{}
		}
		cp.Labels[clusterinventoryv1alpha1.LabelClusterManagerKey] = o.ClusterManager
	}
	if o.TakeOver {
		if cp.Annotations == nil {
			cp.Annotations = map[string]string{}
		}
		cp.Annotations[clusterprofiles.AnnotationTakeOver] = "true"
	}
	for _, a := range o.AccessProviders {
		cp.Status.AccessProviders = append(cp.Status.AccessProviders, *a.DeepCopy())
	}
	return cp
}

// CredentialSecret is the credential Secret of o, or nil if o has no
// kubeconfig.
func (o *Onboarding) CredentialSecret() *corev1.Secret {
	if o.Kubeconfig == nil {
		return nil
	}
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: o.Namespace, Name: CredentialSecretName(o.Name),
			Labels:      map[string]string{clusterprofiles.LabelSecretConsumer: o.consumer(), clusterprofiles.LabelSecretProfile: o.Name},
			Annotations: copyMap(o.CredentialAnnotations),
		},
		Data: map[string][]byte{clusterprofiles.SecretKeyConfig: append([]byte(nil), o.Kubeconfig...)},
	}
}

func (o *Onboarding) consumer() string {
	if o.Consumer == "" {
		return clusterprofiles.DefaultConsumer
	}
	return o.Consumer
}

// Validate reports, in one error, everything that would keep the hub from
// using o: names the API server or the Secret labels refuse, a profile that
// clusterprofiles.Parse refuses, settings that clusterprofiles.ParseSettings reports (the hub would run
// with them but ignore the bad value), a take-over asked for a cluster that
// is not an IronCore cluster, a kubeconfig that a credential Secret may not
// hold.
func (o *Onboarding) Validate() error {
	var errs []string
	if e := validation.IsDNS1123Label(o.Namespace); len(e) > 0 {
		errs = append(errs, fmt.Sprintf("namespace %q is not a namespace name: %s", o.Namespace, strings.Join(e, "; ")))
	}
	// A DNS label, not just a DNS subdomain: the name is also a label value
	// (x-k8s.io/cluster-profile on the Secret, the peer label of members).
	if e := validation.IsDNS1123Label(o.Name); len(e) > 0 {
		errs = append(errs, fmt.Sprintf("profile name %q is not a DNS label: %s", o.Name, strings.Join(e, "; ")))
	}
	if o.ClusterManager == "" {
		errs = append(errs, "cluster manager name is empty")
	} else if e := validation.IsValidLabelValue(o.ClusterManager); len(e) > 0 {
		errs = append(errs, fmt.Sprintf("cluster manager name %q is no label value (label %s): %s", o.ClusterManager, clusterinventoryv1alpha1.LabelClusterManagerKey, strings.Join(e, "; ")))
	}
	if e := validation.IsDNS1123Label(o.consumer()); len(e) > 0 {
		errs = append(errs, fmt.Sprintf("consumer %q is not a DNS label: %s", o.consumer(), strings.Join(e, "; ")))
	}
	cp := o.ClusterProfile()
	if p, problem := clusterprofiles.Parse(cp); problem != nil {
		errs = append(errs, problem.Message)
	} else if p.Role == clusterprofiles.RoleIronCore {
		_, problems := clusterprofiles.ParseSettings(cp, clusterprofiles.Settings{})
		for _, problem := range problems {
			errs = append(errs, problem.Message)
		}
	}
	// Only an IronCore member has an apinet namespace to take over.
	if o.TakeOver && o.Labels[clusterprofiles.LabelRole] != string(clusterprofiles.RoleIronCore) {
		errs = append(errs, fmt.Sprintf("take-over applies to role %s only (annotation %s)", clusterprofiles.RoleIronCore, clusterprofiles.AnnotationTakeOver))
	}
	if o.Kubeconfig != nil {
		if _, err := clusterprofiles.RESTConfigFromSecretKubeconfig(o.Kubeconfig); err != nil {
			errs = append(errs, "credential kubeconfig: "+err.Error())
		}
	}
	for _, a := range o.AccessProviders {
		if a.Name == "" {
			errs = append(errs, "access provider without a name")
		}
		if u, err := url.Parse(a.Cluster.Server); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Sprintf("access provider %q: server %q is not an https URL", a.Name, a.Cluster.Server))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Manifests are the bodies Apply sends, in its order (the Secret, if any,
// then the profile; the profile carries status.accessProviders when set):
// only the fields o defines, no server-owned metadata, no nulls.
func (o *Onboarding) Manifests() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	if s := o.CredentialSecret(); s != nil {
		u, err := applyBody(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	u, err := applyBody(o.ClusterProfile())
	if err != nil {
		return nil, err
	}
	return append(out, u), nil
}

// Result is what Apply did to one object.
type Result string

// Results of Apply, worded as kubectl words them.
const (
	Created    Result = "created"
	Configured Result = "configured"
	Unchanged  Result = "unchanged"
)

// Applied is the outcome for one object.
type Applied struct {
	// Kind in lower case: "secret" or "clusterprofile".
	Kind      string
	Namespace string
	Name      string
	Result    Result
}

func (a Applied) String() string {
	return fmt.Sprintf("%s %s/%s %s", a.Kind, a.Namespace, a.Name, a.Result)
}

// Apply writes o on the hub by server-side apply under fieldManager: the
// credential Secret first, so that the hub finds credentials as soon as it
// sees the profile, then the profile, then its status.accessProviders (a
// subresource of its own). Applying the same Onboarding again changes
// nothing. force takes over fields that other managers own; without it such
// a field is a conflict error.
func (o *Onboarding) Apply(ctx context.Context, c client.Client, fieldManager string, force bool) ([]Applied, error) {
	manifests, err := o.Manifests()
	if err != nil {
		return nil, err
	}
	var applied []Applied
	for _, body := range manifests {
		status, hasStatus := body.Object["status"]
		delete(body.Object, "status")
		// The credential Secret is the profile's (Guard checks its labels),
		// and rotate swaps a token into it by a merge patch: onboard takes
		// its fields back rather than conflict with rotate.
		result, err := applyObject(ctx, c, body, false, fieldManager, force || body.GetKind() == "Secret")
		if err != nil {
			return applied, err
		}
		if hasStatus {
			statusBody := &unstructured.Unstructured{Object: map[string]any{"status": status}}
			statusBody.SetGroupVersionKind(body.GroupVersionKind())
			statusBody.SetNamespace(body.GetNamespace())
			statusBody.SetName(body.GetName())
			statusResult, err := applyObject(ctx, c, statusBody, true, fieldManager, force)
			if err != nil {
				return applied, err
			}
			if result == Unchanged {
				result = statusResult
			}
		}
		applied = append(applied, Applied{
			Kind: strings.ToLower(body.GetKind()), Namespace: body.GetNamespace(), Name: body.GetName(), Result: result,
		})
	}
	return applied, nil
}

// applyObject applies body (or, if status, its status subresource) and tells
// from the object before and after whether anything changed. Only content
// counts: a new resourceVersion, managed fields, or the hub's own status
// written in between are not a change by this apply.
func applyObject(ctx context.Context, c client.Client, body *unstructured.Unstructured, status bool, fieldManager string, force bool) (Result, error) {
	kind, key := body.GetKind(), client.ObjectKeyFromObject(body)
	before := &unstructured.Unstructured{}
	before.SetGroupVersionKind(body.GroupVersionKind())
	existed := true
	if err := c.Get(ctx, key, before); apierrors.IsNotFound(err) {
		existed = false
	} else if err != nil {
		return "", fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	after := body.DeepCopy()
	var err error
	if status {
		opts := []client.SubResourceApplyOption{client.FieldOwner(fieldManager)}
		if force {
			opts = append(opts, client.ForceOwnership)
		}
		err = c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(after), opts...)
	} else {
		opts := []client.ApplyOption{client.FieldOwner(fieldManager)}
		if force {
			opts = append(opts, client.ForceOwnership)
		}
		err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(after), opts...)
	}
	if err != nil {
		what := kind
		if status {
			what += " status"
		}
		return "", fmt.Errorf("apply %s %s: %w", what, key, err)
	}
	switch {
	case !existed:
		return Created, nil
	case reflect.DeepEqual(content(before, status), content(after, status)):
		return Unchanged, nil
	default:
		return Configured, nil
	}
}

// content is the part of an object an apply may change: everything but
// server bookkeeping, and, for the status subresource, status without the
// conditions (other managers own them).
func content(u *unstructured.Unstructured, status bool) any {
	if status {
		s, _, _ := unstructured.NestedMap(u.Object, "status")
		delete(s, "conditions")
		return s
	}
	c := u.DeepCopy()
	for _, f := range []string{"resourceVersion", "managedFields", "generation"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	delete(c.Object, "status")
	return c.Object
}

// applyBody is obj as an apply body: apiVersion, kind, name, namespace,
// labels, annotations and the rest of the object, without nulls and empty
// objects left over from zero values.
func applyBody(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	metadata, _ := m["metadata"].(map[string]any)
	kept := map[string]any{}
	for _, k := range []string{"name", "namespace", "labels", "annotations"} {
		if v, ok := metadata[k]; ok && v != nil {
			kept[k] = v
		}
	}
	m["metadata"] = kept
	pruneEmpty(m)
	return &unstructured.Unstructured{Object: m}, nil
}

// pruneEmpty drops nulls and empty maps, recursively.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			pruneEmpty(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
			continue
		}
		if v == nil {
			delete(m, k)
		}
	}
}

// ProfileNameFromContext derives a profile name from a kubeconfig context
// name: lower case, every run of characters outside [a-z0-9] becomes one
// "-", leading and trailing "-" go, and a name past 63 characters is cut
// with a hash suffix. "" if nothing is left (the caller must ask for a
// name).
func ProfileNameFromContext(context string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(context) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return clusterprofiles.BoundedName(strings.TrimRight(b.String(), "-"), validation.DNS1123LabelMaxLength)
}

// ErrPluginCredentials is returned for a kubeconfig user whose credentials
// come from an exec or auth-provider plugin: a credential Secret may hold
// only inline credentials (see clusterprofiles.RESTConfigFromSecretKubeconfig); such a
// cluster is reached through an access provider instead.
var ErrPluginCredentials = errors.New("credentials from a plugin cannot be stored in a credential Secret")

// maxReferencedFile bounds the certificate, key and token files a
// kubeconfig names.
const maxReferencedFile = 1 << 20

// CredentialKubeconfig is the kubeconfig a credential Secret holds for one
// context of kc ("" means its current context): minified to that context,
// its cluster and its user, and flattened: the files it names (CA, client
// certificate and key, token file) are read and inlined. The result is
// accepted by clusterprofiles.RESTConfigFromSecretKubeconfig, or this fails. A user with an
// exec or auth-provider plugin yields ErrPluginCredentials.
//
// Relative file names are resolved against the directory of the kubeconfig
// that holds them (LocationOfOrigin, set by clientcmd's loading rules), or
// the working directory for a kubeconfig read from elsewhere.
func CredentialKubeconfig(kc *clientcmdapi.Config, context string) ([]byte, error) {
	return credentialKubeconfig(kc, context, nil)
}

// TokenKubeconfig is CredentialKubeconfig with the context's user replaced
// by a bearer token (a ServiceAccount's, see ServiceAccountAccess): the
// caller's own credentials are never stored.
func TokenKubeconfig(kc *clientcmdapi.Config, context, token string) ([]byte, error) {
	if token == "" {
		return nil, errors.New("no token")
	}
	return credentialKubeconfig(kc, context, &clientcmdapi.AuthInfo{Token: token})
}

func credentialKubeconfig(kc *clientcmdapi.Config, context string, user *clientcmdapi.AuthInfo) ([]byte, error) {
	name, kctx, err := pickContext(kc, context)
	if err != nil {
		return nil, err
	}
	if u, ok := kc.AuthInfos[kctx.AuthInfo]; kctx.AuthInfo != "" && (!ok || u == nil) {
		return nil, fmt.Errorf("context %q names user %q, which the kubeconfig does not have", name, kctx.AuthInfo)
	}
	out := kc.DeepCopy()
	out.CurrentContext = name
	if user != nil {
		out.Contexts[name].AuthInfo = "apinet-hub"
		out.AuthInfos = map[string]*clientcmdapi.AuthInfo{"apinet-hub": user.DeepCopy()}
	}
	if err := minifyAndFlatten(out); err != nil {
		return nil, err
	}
	data, err := clientcmd.Write(*out)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	if _, err := clusterprofiles.RESTConfigFromSecretKubeconfig(data); err != nil {
		return nil, fmt.Errorf("context %q cannot be stored in a credential Secret: %w", name, err)
	}
	return data, nil
}

// AccessProviderFor is the status.accessProviders entry named provider that
// points the hub at the cluster of one context of kc ("" means its current
// context): server, inlined CA, TLS server name and proxy. clusterprofiles.Credentials are
// not part of it: the hub's provider file supplies them.
func AccessProviderFor(kc *clientcmdapi.Config, context, provider string) (clusterinventoryv1alpha1.AccessProvider, error) {
	name, kctx, err := pickContext(kc, context)
	if err != nil {
		return clusterinventoryv1alpha1.AccessProvider{}, err
	}
	out := kc.DeepCopy()
	out.CurrentContext = name
	out.Contexts[name].AuthInfo = "" // the hub's provider file supplies the credentials
	if err := minifyAndFlatten(out); err != nil {
		return clusterinventoryv1alpha1.AccessProvider{}, err
	}
	cluster := out.Clusters[kctx.Cluster]
	return clusterinventoryv1alpha1.AccessProvider{Name: provider, Cluster: clientcmdv1.Cluster{
		Server:                   cluster.Server,
		TLSServerName:            cluster.TLSServerName,
		InsecureSkipTLSVerify:    cluster.InsecureSkipTLSVerify,
		CertificateAuthorityData: cluster.CertificateAuthorityData,
		ProxyURL:                 cluster.ProxyURL,
		DisableCompression:       cluster.DisableCompression,
	}}, nil
}

// ExecClusterExtension is the cluster extension whose content client-go
// hands an exec plugin as ExecCredential.spec.cluster.config (with
// provideClusterInfo). Cluster Inventory's secret-reader plugin reads the
// cluster's name from it ({"clusterName": ...}) to find its token Secret.
const ExecClusterExtension = "client.authentication.k8s.io/exec"

// WithClusterName is ap with ExecClusterExtension naming the cluster, as
// the secret-reader plugin expects; another extension of that name is
// replaced.
func WithClusterName(ap clusterinventoryv1alpha1.AccessProvider, name string) clusterinventoryv1alpha1.AccessProvider {
	raw, _ := json.Marshal(map[string]string{"clusterName": name}) // a map of strings always marshals
	ap = *ap.DeepCopy()
	ap.Cluster.Extensions = slices.DeleteFunc(ap.Cluster.Extensions, func(e clientcmdv1.NamedExtension) bool { return e.Name == ExecClusterExtension })
	ap.Cluster.Extensions = append(ap.Cluster.Extensions, clientcmdv1.NamedExtension{Name: ExecClusterExtension, Extension: runtime.RawExtension{Raw: raw}})
	return ap
}

// pickContext finds a context of kc ("" means its current context) that
// names a cluster with a server, and returns its name and the context.
func pickContext(kc *clientcmdapi.Config, context string) (string, *clientcmdapi.Context, error) {
	if context == "" {
		context = kc.CurrentContext
	}
	if context == "" {
		return "", nil, fmt.Errorf("kubeconfig has no current-context; name one with --cluster-context (contexts: %s)", contextNames(kc))
	}
	kctx, ok := kc.Contexts[context]
	if !ok || kctx == nil {
		return "", nil, fmt.Errorf("kubeconfig has no context %q (contexts: %s)", context, contextNames(kc))
	}
	if src, ok := kc.Clusters[kctx.Cluster]; !ok || src == nil || src.Server == "" {
		return "", nil, fmt.Errorf("context %q names cluster %q, which is missing or has no server", context, kctx.Cluster)
	}
	return context, kctx, nil
}

// minifyAndFlatten reduces kc, a copy that pickContext has checked, to what
// a credential Secret keeps: its current context, that context's cluster and
// user (client-go's MinifyConfig), without extensions and preferences, and
// with the files they name read into it (client-go's FlattenConfig; the
// token file by inlineUser). Every file is checked first (checkCluster,
// inlineUser): FlattenConfig would hang on a FIFO.
func minifyAndFlatten(kc *clientcmdapi.Config) error {
	if err := clientcmdapi.MinifyConfig(kc); err != nil {
		return err
	}
	name := kc.CurrentContext
	kctx := kc.Contexts[name]
	kc.Extensions, kc.Preferences, kctx.Extensions = nil, clientcmdapi.Preferences{}, nil
	if err := checkCluster(kctx.Cluster, kc.Clusters[kctx.Cluster]); err != nil {
		return err
	}
	if kctx.AuthInfo != "" {
		if err := inlineUser(kctx.AuthInfo, kc.AuthInfos[kctx.AuthInfo]); err != nil {
			return fmt.Errorf("context %q: %w", name, err)
		}
	}
	if err := clientcmdapi.FlattenConfig(kc); err != nil {
		return fmt.Errorf("context %q: %w", name, err)
	}
	return nil
}

// checkCluster drops the extensions of a cluster and checks the CA file it
// names, for FlattenConfig.
func checkCluster(name string, c *clientcmdapi.Cluster) error {
	c.Extensions = nil
	// Inline data wins over a file in client-go; FlattenConfig refuses both.
	if len(c.CertificateAuthorityData) > 0 {
		c.CertificateAuthority = ""
	}
	if c.CertificateAuthority == "" {
		return nil
	}
	if _, err := checkReferencedFile(clientcmdapi.ResolvePath(c.CertificateAuthority, filepath.Dir(c.LocationOfOrigin))); err != nil {
		return fmt.Errorf("cluster %q: certificate-authority: %w", name, err)
	}
	return nil
}

// inlineUser keeps the inline credentials of a user and the files it names
// for FlattenConfig, once checked; it reads the token file itself
// (FlattenConfig does not). Plugins yield ErrPluginCredentials.
func inlineUser(name string, u *clientcmdapi.AuthInfo) error {
	switch {
	case u.Exec != nil:
		return fmt.Errorf("user %q gets its credentials from exec plugin %q: %w", name, u.Exec.Command, ErrPluginCredentials)
	case u.AuthProvider != nil:
		return fmt.Errorf("user %q gets its credentials from auth-provider %q: %w", name, u.AuthProvider.Name, ErrPluginCredentials)
	}
	u.Extensions = nil
	// Inline data wins over a file in client-go; a file named without data
	// is checked here (a regular file of bounded size: a FIFO or a device
	// must not hang the command) and read by FlattenConfig, against the
	// kubeconfig's own directory.
	for _, f := range []struct {
		path  *string
		field string
		data  []byte
	}{
		{&u.ClientCertificate, "client-certificate", u.ClientCertificateData},
		{&u.ClientKey, "client-key", u.ClientKeyData},
	} {
		if len(f.data) > 0 {
			*f.path = ""
		}
		if *f.path == "" {
			continue
		}
		if _, err := checkReferencedFile(clientcmdapi.ResolvePath(*f.path, filepath.Dir(u.LocationOfOrigin))); err != nil {
			return fmt.Errorf("user %q: %s: %w", name, f.field, err)
		}
	}
	// client-go re-reads a token file and prefers it over an inline token.
	if u.TokenFile != "" {
		data, err := readReferencedFile(clientcmdapi.ResolvePath(u.TokenFile, filepath.Dir(u.LocationOfOrigin)))
		if err != nil {
			return fmt.Errorf("user %q: tokenFile: %w", name, err)
		}
		u.Token, u.TokenFile = strings.TrimSpace(string(data)), ""
	}
	return nil
}

// checkReferencedFile checks that a file a kubeconfig names is a regular,
// non-empty file of at most maxReferencedFile bytes: a kubeconfig that names
// a FIFO or a device must not hang or exhaust the command.
func checkReferencedFile(path string) (os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case info.Size() > maxReferencedFile:
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxReferencedFile)
	case info.Size() == 0:
		return nil, fmt.Errorf("%s is empty", path)
	}
	return info, nil
}

// readReferencedFile reads a file a kubeconfig names, once checked.
func readReferencedFile(path string) ([]byte, error) {
	if _, err := checkReferencedFile(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return data, nil
}

func contextNames(kc *clientcmdapi.Config) string {
	names := make([]string, 0, len(kc.Contexts))
	for n := range kc.Contexts {
		names = append(names, fmt.Sprintf("%q", n))
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
