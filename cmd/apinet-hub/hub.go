package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// hubConnection is the one place of the flags that reach the hub cluster
// (cli-runtime's ConfigFlags, narrowed to the kubeconfig and its context):
// every command that talks to the hub binds it.
type hubConnection struct {
	flags   *genericclioptions.ConfigFlags
	context string
}

// bind adds --kubeconfig and the context flag. contextFlag is "context",
// except where --context already names another cluster's context.
func (h *hubConnection) bind(fs *pflag.FlagSet, contextFlag string) {
	h.flags = &genericclioptions.ConfigFlags{KubeConfig: ptr.To("")}
	h.flags.AddFlags(fs)
	fs.Lookup("kubeconfig").Usage = "kubeconfig of the hub cluster (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)"
	fs.StringVar(&h.context, contextFlag, "", "context of the hub's kubeconfig (default: its current context)")
	h.flags.Context = &h.context
}

// restConfig is the hub's client config.
func (h *hubConnection) restConfig() (*rest.Config, error) {
	cfg, err := h.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("hub kubeconfig: %w", err)
	}
	return cfg, nil
}

// client is a client of the hub with the fleet's scheme.
func (h *hubConnection) client() (client.WithWatch, error) {
	cfg, err := h.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: clusterprofiles.Scheme})
	if err != nil {
		return nil, fmt.Errorf("hub at %s: %w", cfg.Host, err)
	}
	return c, nil
}
