package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// rotateFlags are the flags of `apinet-hub rotate`.
type rotateFlags struct {
	hub               hubConnection
	namespace         string
	consumer          string
	clusterKubeconfig string
	clusterContext    string
	tokenExpiration   time.Duration
	wait              time.Duration
	withoutHub        bool
}

func newRotateCommand() *cobra.Command {
	var f rotateFlags
	cmd := &cobra.Command{
		Use:   "rotate NAME --namespace NS [flags]",
		Short: "replace the hub's token of a cluster onboarded with --create-service-account, and revoke the old one",
		Long: `Replaces the token in a ClusterProfile's credential Secret that
onboard --create-service-account made. With the hub's stored credentials (the
hub's ServiceAccount may mint its own next token) or, with
--cluster-kubeconfig, your own, it proves that they reach the cluster recorded
on the profile, issues a new token bound to a new anchor Secret in the
cluster, swaps it into the credential Secret, waits until the hub reports the
profile Engaged on the new token, and revokes the old token by deleting its
anchor. No other member is touched. See docs/operations.md, "Rotate a
cluster's token".`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("give the ClusterProfile's name as the one argument (got %d)", len(args))
			}
			return nil
		},
		ValidArgsFunction: completeProfiles(&f.hub, &f.namespace),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRotate(cmd.Context(), &f, args[0], cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	f.hub.bind(fs, "context")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the ClusterProfile (required)")
	fs.StringVar(&f.consumer, "consumer", clusterprofiles.DefaultConsumer, "x-k8s.io/cluster-inventory-consumer label of the credential Secret (the hub's --consumer)")
	fs.StringVar(&f.clusterKubeconfig, "cluster-kubeconfig", "", "your own kubeconfig of the cluster, for a token the hub's ServiceAccount may not mint itself (default: the hub's stored credentials)")
	fs.StringVar(&f.clusterContext, "cluster-context", "", "context of --cluster-kubeconfig (default: its current context)")
	fs.DurationVar(&f.tokenExpiration, "token-expiration", 365*24*time.Hour, "lifetime of the new token, less a random cut of up to 10 % so that tokens do not expire together")
	fs.DurationVar(&f.wait, "wait", 5*time.Minute, "deadline of the rotation, the hub's re-engagement included")
	fs.BoolVar(&f.withoutHub, "without-hub", false, "do not wait for the hub to engage on the new token: only when no hub runs for the fleet")
	_ = cmd.MarkFlagRequired("namespace")
	registerCompletions(cmd, &f.hub, &f.namespace)
	return cmd
}

func runRotate(parent context.Context, f *rotateFlags, name string, out io.Writer) error {
	if f.tokenExpiration < 10*time.Minute {
		return usagef("--token-expiration must be at least 10m (the API server's minimum)")
	}
	if f.wait <= 0 {
		return usagef("--wait must be positive")
	}
	if f.clusterContext != "" && f.clusterKubeconfig == "" {
		return usagef("--cluster-context needs --cluster-kubeconfig")
	}
	ctx, cancel := context.WithTimeout(parent, f.wait)
	defer cancel()
	hub, err := f.hub.client()
	if err != nil {
		return err
	}
	r := &lifecycle.Rotation{Key: types.NamespacedName{Namespace: f.namespace, Name: name}, Consumer: f.consumer,
		Expiration: f.tokenExpiration, WithoutHub: f.withoutHub, Out: out}
	if f.clusterKubeconfig != "" {
		var cfg *rest.Config
		if cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.clusterKubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: f.clusterContext}).ClientConfig(); err != nil {
			return fmt.Errorf("--cluster-kubeconfig: %w", err)
		}
		r.Caller = cfg
	}
	start := time.Now()
	if _, err := r.Run(ctx, hub); err != nil {
		return err
	}
	fmt.Fprintf(out, "rotated in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
