package lifecycle

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// InputError is an error in what the caller asked for (for apinet-hub, the
// command line): running again with the same input fails the same way.
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }

// OnboardingInput is what onboarding one cluster starts from: the loaded
// kubeconfig of the cluster and the choices of `apinet-hub onboard` (or of
// one entry of a fleet file).
type OnboardingInput struct {
	// Kubeconfig of the cluster; Source names it in errors (a file name).
	Kubeconfig *clientcmdapi.Config
	Source     string
	// Context of Kubeconfig; "" means its current context.
	Context string
	// Namespace and Name of the profile on the hub; an empty Name is
	// derived from the context (ProfileNameFromContext).
	Namespace, Name string
	Role            clusterprofiles.Role
	Peer            string
	// APINetNamespace overrides an IronCore cluster's apinet namespace.
	APINetNamespace string
	// Annotations are further profile annotations (a fleet entry's
	// settings).
	Annotations    map[string]string
	TakeOver       bool
	Consumer       string
	ClusterManager string
	// AccessProvider, if set, stores no kubeconfig: the hub reaches the
	// cluster through this provider of its --clusterprofile-provider-file.
	AccessProvider string
	// CreateServiceAccount stores no kubeconfig yet: ServiceAccountCredentials
	// makes one once the ServiceAccount exists.
	CreateServiceAccount bool
	// DryRun and SkipChecks need no config of the cluster for an access
	// provider.
	DryRun, SkipChecks bool
	// Timeout bounds each request of the returned config.
	Timeout time.Duration
}

// NewOnboarding builds what to write for in, and the config that reaches
// the cluster: the stored kubeconfig itself (the checks reach the cluster
// exactly as the hub will), or the caller's own credentials (plugins
// included) for an access provider or a ServiceAccount to create; nil if
// nothing will reach the cluster. An error in the input is an InputError.
func NewOnboarding(in OnboardingInput) (*Onboarding, *rest.Config, error) {
	contextName := in.Context
	if contextName == "" {
		contextName = in.Kubeconfig.CurrentContext
	}
	if contextName == "" {
		return nil, nil, fmt.Errorf("%s has no current-context; name one with --cluster-context", in.Source)
	}
	name := in.Name
	if name == "" {
		if name = ProfileNameFromContext(contextName); name == "" {
			return nil, nil, InputError{fmt.Errorf("cannot derive a profile name from context %q of %s; pass --name", contextName, in.Source)}
		}
	}
	o := &Onboarding{
		Namespace: in.Namespace, Name: name, ClusterManager: in.ClusterManager,
		Labels: RoleLabels(in.Role, in.Peer), Annotations: profileAnnotations(in.Annotations, in.APINetNamespace),
		TakeOver: in.TakeOver, Consumer: in.Consumer,
	}
	callerConfig := func() (*rest.Config, error) {
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*in.Kubeconfig, contextName, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Source, err)
		}
		return cfg, nil
	}

	var clusterCfg *rest.Config
	switch {
	case in.AccessProvider != "":
		ap, err := AccessProviderFor(in.Kubeconfig, in.Context, in.AccessProvider)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", in.Source, err)
		}
		// With the cluster's name in the exec extension: what Cluster
		// Inventory's secret-reader plugin reads (unused by other plugins).
		o.AccessProviders = []clusterinventoryv1alpha1.AccessProvider{WithClusterName(ap, name)}
		// The hub brings its own credentials; the checks use the local ones.
		if !in.DryRun && !in.SkipChecks {
			if clusterCfg, err = callerConfig(); err != nil {
				return nil, nil, err
			}
		}
	case in.CreateServiceAccount:
		// The caller's credentials reach the cluster only to create the
		// ServiceAccount.
		var err error
		if clusterCfg, err = callerConfig(); err != nil {
			return nil, nil, err
		}
	default:
		data, err := CredentialKubeconfig(in.Kubeconfig, in.Context)
		if errors.Is(err, ErrPluginCredentials) {
			return nil, nil, fmt.Errorf("%s: %w; onboard with --access-provider NAME and give the hub that provider in its --clusterprofile-provider-file", in.Source, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", in.Source, err)
		}
		o.Kubeconfig = data
		if clusterCfg, err = clusterprofiles.RESTConfigFromSecretKubeconfig(data); err != nil {
			return nil, nil, err
		}
	}
	if err := o.Validate(); err != nil {
		return nil, nil, InputError{err}
	}
	if clusterCfg != nil {
		clusterCfg.Timeout = in.Timeout
	}
	return o, clusterCfg, nil
}

// profileAnnotations are the given annotations and the apinet namespace
// override, if any; nil if there are none.
func profileAnnotations(extra map[string]string, apinetNamespace string) map[string]string {
	var annotations map[string]string
	for k, v := range extra {
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[k] = v
	}
	if apinetNamespace != "" {
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[clusterprofiles.AnnotationAPINetNamespace] = apinetNamespace
	}
	return annotations
}
