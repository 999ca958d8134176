package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/lifecycle"
)

// onboardFieldManager owns what `apinet-hub onboard` writes on the hub.
const onboardFieldManager = "apinet-hub-onboard"

// onboardFlags are the flags of `apinet-hub onboard`.
type onboardFlags struct {
	hub               hubConnection
	clusterKC         *clientcmdapi.Config // the loaded --cluster-kubeconfig, for --create-service-account
	clusterKubeconfig string
	context           string
	namespace         string
	name              string
	role              string
	peer              string
	apinetNamespace   string
	takeOver          bool
	createSA          bool
	saNamespace       string
	saName            string
	tokenExpiration   time.Duration
	consumer          string
	clusterManager    string
	accessProvider    string
	timeout           time.Duration
	wait              time.Duration
	dryRun            bool
	showSecrets       bool
	skipChecks        bool
	forceConflicts    bool
	// file is -f, a fleet file: onboard every cluster it lists.
	file string
	// annotations are further profile annotations (a fleet entry's
	// settings).
	annotations map[string]string
	// kubeconfigFlag names clusterKubeconfig in errors.
	kubeconfigFlag string
}

func (f *onboardFlags) bind(fs *pflag.FlagSet) {
	f.hub.bind(fs, "hub-context")
	fs.StringVar(&f.clusterKubeconfig, "cluster-kubeconfig", "", "kubeconfig of the cluster to onboard (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "cluster-context", "", "context of --cluster-kubeconfig to onboard (default: its current context)")
	// --context named the onboarded cluster's context before, while every
	// other command's --context names the hub's: kept, deprecated.
	fs.StringVar(&f.context, "context", "", "deprecated: --cluster-context")
	_ = fs.MarkHidden("context")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the ClusterProfile and its Secret (required)")
	fs.StringVar(&f.name, "name", "", "ClusterProfile name, a DNS label (default: the context name, lower-cased, other characters replaced by '-')")
	fs.StringVar(&f.role, "role", "", "role of the cluster: ironcore or apinet (required)")
	fs.StringVar(&f.peer, "peer", "", "apinet ClusterProfile (same namespace) an IronCore cluster maps into (required for --role ironcore)")
	fs.StringVar(&f.apinetNamespace, "apinet-namespace", "", "namespace in the peer for an IronCore cluster's apinet objects (default: <namespace>-<name>)")
	fs.BoolVar(&f.takeOver, "take-over", false,
		"for a take-over from apinetlet: let the hub adopt the IronCore cluster's existing apinet namespace, which holds objects the hub did not write (apinetlet's); without it the hub refuses such a namespace. Writes annotation "+
			clusterprofiles.AnnotationTakeOver+"=true on the profile; a later run without --take-over removes it")
	fs.BoolVar(&f.createSA, "create-service-account", false,
		"store a token of a ServiceAccount of the hub instead of your own credentials: create, in the cluster being onboarded (with your credentials), the ServiceAccount, the ClusterRole apinet-hub:<role> (the least the hub needs, docs/clusterprofiles.md) and its binding, and store a kubeconfig with a token of that ServiceAccount")
	fs.StringVar(&f.saNamespace, "service-account-namespace", "apinet-hub", "with --create-service-account: namespace of the ServiceAccount in the cluster being onboarded (created if missing; an existing one is used as it is; not a system namespace)")
	fs.StringVar(&f.saName, "service-account-name", "apinet-hub", "with --create-service-account: name of the ServiceAccount")
	fs.DurationVar(&f.tokenExpiration, "token-expiration", 365*24*time.Hour, "with --create-service-account: lifetime of a new token (a TokenRequest); a run that finds a stored token that still works keeps it: apinet-hub rotate replaces it")
	fs.StringVar(&f.consumer, "consumer", clusterprofiles.DefaultConsumer, "x-k8s.io/cluster-inventory-consumer label of the Secret (the hub's --consumer)")
	fs.StringVar(&f.clusterManager, "cluster-manager", onboardFieldManager, "spec.clusterManager.name of the ClusterProfile")
	fs.StringVar(&f.accessProvider, "access-provider", "",
		"write no Secret; let the hub reach the cluster through this access provider of its --clusterprofile-provider-file (status.accessProviders gets the cluster's server and CA). Needed for exec and auth-provider users")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Second, "deadline of the checks and writes")
	fs.DurationVar(&f.wait, "wait", 0, "after writing, wait this long for the hub to report the profile Engaged, printing its reason as it changes; exit 1 with the last reason if it does not (0: do not wait)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the objects as YAML and write nothing; no connection to either cluster")
	fs.BoolVar(&f.showSecrets, "show-secrets", false, "with --dry-run, print the Secret's kubeconfig instead of redacting it")
	fs.BoolVar(&f.skipChecks, "skip-checks", false, "write without checking the cluster, the hub namespace and the peer")
	fs.BoolVar(&f.forceConflicts, "force-conflicts", false, "take over fields of the objects that other field managers own")
	fs.StringVarP(&f.file, "filename", "f", "", "a fleet file (kind Fleet, docs/clusterprofiles.md): onboard every cluster it lists, apinet clusters first, and report one line per cluster; excludes the flags that describe one cluster")
}

// validate checks the flags alone, before anything is read.
func (f *onboardFlags) validate() error {
	if f.namespace == "" && f.file == "" {
		return usagef(`required flag(s) "namespace" not set`)
	}
	if e := validation.IsDNS1123Label(f.namespace); len(e) > 0 {
		return usagef("--namespace %q is not a namespace name: %s", f.namespace, strings.Join(e, "; "))
	}
	if f.name != "" {
		if e := validation.IsDNS1123Label(f.name); len(e) > 0 {
			return usagef("--name %q is not a DNS label: %s", f.name, strings.Join(e, "; "))
		}
	}
	switch clusterprofiles.Role(f.role) {
	case clusterprofiles.RoleIronCore:
		if f.peer == "" {
			return usagef("--peer is required for --role %s: name the apinet ClusterProfile this cluster maps into", f.role)
		}
		if e := validation.IsDNS1123Label(f.peer); len(e) > 0 {
			return usagef("--peer %q is not a ClusterProfile name: %s", f.peer, strings.Join(e, "; "))
		}
		if f.apinetNamespace != "" {
			if e := validation.IsDNS1123Label(f.apinetNamespace); len(e) > 0 {
				return usagef("--apinet-namespace %q is not a namespace name: %s", f.apinetNamespace, strings.Join(e, "; "))
			}
			if clusterprofiles.SystemNamespace(f.apinetNamespace) {
				return usagef("--apinet-namespace %q is a system namespace of the peer, where Kubernetes or apinet run their own components; pick a namespace of its own", f.apinetNamespace)
			}
		}
	case clusterprofiles.RoleAPINet:
		if f.peer != "" {
			return usagef("--peer applies to --role %s only; an apinet cluster has no peer", clusterprofiles.RoleIronCore)
		}
		if f.apinetNamespace != "" {
			return usagef("--apinet-namespace applies to --role %s only", clusterprofiles.RoleIronCore)
		}
		if f.takeOver {
			return usagef("--take-over applies to --role %s only", clusterprofiles.RoleIronCore)
		}
	case "":
		return usagef("--role is required: %s or %s", clusterprofiles.RoleIronCore, clusterprofiles.RoleAPINet)
	default:
		return usagef("--role %q is not %s or %s", f.role, clusterprofiles.RoleIronCore, clusterprofiles.RoleAPINet)
	}
	if e := validation.IsDNS1123Label(f.consumer); len(e) > 0 {
		return usagef("--consumer %q is not a DNS label: %s", f.consumer, strings.Join(e, "; "))
	}
	if f.clusterManager == "" {
		return usagef("--cluster-manager is empty")
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if f.showSecrets && !f.dryRun {
		return usagef("--show-secrets applies to --dry-run only")
	}
	if f.createSA {
		// By value, not by cobra's flag groups: --dry-run=false is fine.
		switch {
		case f.dryRun:
			return usagef("--create-service-account writes to the cluster being onboarded; it does not apply to --dry-run")
		case f.skipChecks:
			return usagef("--create-service-account needs the cluster: it does not apply to --skip-checks")
		case f.tokenExpiration < 10*time.Minute:
			return usagef("--token-expiration must be at least 10m (the API server's minimum)")
		}
		for flag, v := range map[string]string{"--service-account-namespace": f.saNamespace, "--service-account-name": f.saName} {
			if e := validation.IsDNS1123Label(v); len(e) > 0 {
				return usagef("%s %q is not a DNS label: %s", flag, v, strings.Join(e, "; "))
			}
		}
	}
	if f.wait < 0 {
		return usagef("--wait must not be negative")
	}
	if f.wait > 0 && f.dryRun {
		return usagef("--wait does not apply to --dry-run (nothing is written)")
	}
	return nil
}

func newOnboardCommand() *cobra.Command {
	var f onboardFlags
	cmd := &cobra.Command{
		Use:   "onboard --namespace NS --role ironcore|apinet [--peer NAME] [flags]",
		Short: "onboard a cluster: write its ClusterProfile and credential Secret on the hub",
		Long: `Creates or updates, on the hub, the ClusterProfile of one cluster and its
credential Secret (a kubeconfig minified to one context, credentials inline),
by server-side apply. Checks first that the cluster is reachable and serves the
role's API, that the hub namespace exists and, for an IronCore cluster, that
its apinet peer is onboarded. See docs/clusterprofiles.md.

With -f FLEET (a fleet file, kind Fleet; apinet-hub export writes one), it
onboards every cluster the file lists, apinet clusters first, the same way,
and prints one line per cluster: created, configured, unchanged, or why it
failed; a failed cluster does not stop the others, and the exit code is 1 if
any failed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("context") {
				// On stderr: pflag's own deprecation notice would go to
				// stdout, among the command's output.
				fmt.Fprintln(cmd.ErrOrStderr(), "Flag --context has been deprecated, use --cluster-context (in the other commands, --context names the hub's context)")
			}
			return runOnboard(cmd.Context(), &f, cmd.OutOrStdout())
		},
	}
	f.bind(cmd.Flags())
	registerCompletions(cmd, &f.hub, &f.namespace)
	cmd.MarkFlagsMutuallyExclusive("create-service-account", "access-provider")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	// A fleet file describes its clusters itself.
	for _, single := range []string{"cluster-kubeconfig", "cluster-context", "context", "name", "role", "peer", "apinet-namespace",
		"take-over", "create-service-account", "access-provider", "wait", "dry-run", "show-secrets"} {
		cmd.MarkFlagsMutuallyExclusive("filename", single)
	}
	return cmd
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments %q", args)
	}
	return nil
}

func runOnboard(parent context.Context, f *onboardFlags, stdout io.Writer) error {
	if f.file != "" {
		return runOnboardFleet(parent, f, stdout)
	}
	if err := f.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(parent, f.timeout) // --wait has its own deadline
	defer cancel()

	o, clusterCfg, err := f.onboarding()
	if err != nil {
		return err
	}
	if f.dryRun {
		return printManifests(stdout, o, f.showSecrets)
	}

	hub, hubHost, err := f.hubClient()
	if err != nil {
		return err
	}
	applied, err := f.apply(ctx, hub, hubHost, o, clusterCfg, stdout)
	for _, a := range applied {
		fmt.Fprintln(stdout, a)
	}
	if err != nil {
		return err
	}
	if f.wait > 0 {
		waitCtx, cancel := context.WithTimeout(parent, f.wait)
		defer cancel()
		return lifecycle.WaitEngaged(waitCtx, hub, types.NamespacedName{Namespace: o.Namespace, Name: o.Name}, f.wait, stdout)
	}
	return nil
}

// hubClient connects to the hub, each request bounded by --timeout.
func (f *onboardFlags) hubClient() (client.WithWatch, string, error) {
	hubCfg, err := f.hub.restConfig()
	if err != nil {
		return nil, "", err
	}
	hubCfg = rest.CopyConfig(hubCfg)
	hubCfg.Timeout = f.timeout
	hub, err := client.NewWithWatch(hubCfg, client.Options{Scheme: clusterprofiles.Scheme})
	if err != nil {
		return nil, "", fmt.Errorf("hub at %s: %w", hubCfg.Host, err)
	}
	return hub, hubCfg.Host, nil
}

// apply is onboarding one cluster once o is built (lifecycle's
// Onboarding.Write); onboard and onboard -f both take this path.
func (f *onboardFlags) apply(ctx context.Context, hub client.Client, hubHost string, o *lifecycle.Onboarding, clusterCfg *rest.Config, stdout io.Writer) ([]lifecycle.Applied, error) {
	opts := lifecycle.WriteOptions{FieldManager: onboardFieldManager, Force: f.forceConflicts, SkipChecks: f.skipChecks, Timeout: f.timeout}
	if f.createSA {
		sa := f.serviceAccountCredentials(stdout)
		opts.ServiceAccount = &sa
	}
	return o.Write(ctx, hub, hubHost, clusterCfg, opts)
}

// serviceAccountCredentials maps the flags of --create-service-account to
// lifecycle's ServiceAccountCredentials, reporting to stdout.
func (f *onboardFlags) serviceAccountCredentials(stdout io.Writer) lifecycle.ServiceAccountCredentials {
	return lifecycle.ServiceAccountCredentials{
		Access:     lifecycle.ServiceAccountAccess{Namespace: f.saNamespace, Name: f.saName, Role: clusterprofiles.Role(f.role)},
		Kubeconfig: f.clusterKC, Context: f.context,
		FieldManager: onboardFieldManager, Expiration: f.tokenExpiration, Timeout: f.timeout,
		Out: stdout,
	}
}

// onboarding reads the cluster's kubeconfig and builds what to write, and
// the config the checks reach the cluster with (lifecycle.NewOnboarding).
func (f *onboardFlags) onboarding() (*lifecycle.Onboarding, *rest.Config, error) {
	kc, source, err := f.loadClusterKubeconfig()
	if err != nil {
		return nil, nil, err
	}
	o, clusterCfg, err := lifecycle.NewOnboarding(lifecycle.OnboardingInput{
		Kubeconfig: kc, Source: source, Context: f.context,
		Namespace: f.namespace, Name: f.name, Role: clusterprofiles.Role(f.role), Peer: f.peer,
		APINetNamespace: f.apinetNamespace, Annotations: f.annotations, TakeOver: f.takeOver,
		Consumer: f.consumer, ClusterManager: f.clusterManager,
		AccessProvider: f.accessProvider, CreateServiceAccount: f.createSA,
		DryRun: f.dryRun, SkipChecks: f.skipChecks, Timeout: f.timeout,
	})
	if err != nil {
		return nil, nil, asUsage(err)
	}
	if f.createSA && f.accessProvider == "" {
		f.clusterKC = kc // for serviceAccountCredentials
	}
	return o, clusterCfg, nil
}

// asUsage makes an error in lifecycle's input a usageError (exit code 2).
func asUsage(err error) error {
	if errors.As(err, new(lifecycle.InputError)) {
		return usageError{err}
	}
	return err
}

// loadClusterKubeconfig loads --cluster-kubeconfig, or the kubeconfig
// kubectl would use, with relative file names resolved against the file.
func (f *onboardFlags) loadClusterKubeconfig() (*clientcmdapi.Config, string, error) {
	if f.clusterKubeconfig != "" {
		kc, err := (&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.clusterKubeconfig}).Load()
		if err != nil {
			what := f.kubeconfigFlag
			if what == "" {
				what = "--cluster-kubeconfig"
			}
			return nil, "", fmt.Errorf("%s: %w", what, err)
		}
		return kc, f.clusterKubeconfig, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	kc, err := rules.Load()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig of the cluster: %w", err)
	}
	if len(kc.Contexts) == 0 {
		return nil, "", usagef("no kubeconfig of the cluster to onboard: pass --cluster-kubeconfig or set $KUBECONFIG")
	}
	return kc, "the kubeconfig of $KUBECONFIG or ~/.kube/config", nil
}

// printManifests prints what Apply would send, as YAML documents, with the
// Secret's kubeconfig redacted unless showSecrets.
func printManifests(w io.Writer, o *lifecycle.Onboarding, showSecrets bool) error {
	manifests, err := o.Manifests()
	if err != nil {
		return err
	}
	printer := &printers.YAMLPrinter{}
	for _, m := range manifests {
		if _, ok := m.Object["status"]; ok {
			// kubectl apply and Argo CD drop a status: say so in the output.
			fmt.Fprintf(w, "# status.accessProviders is a subresource: kubectl apply and GitOps tools drop it. Apply it apart:\n"+
				"#   kubectl apply --server-side --subresource=status -f <this profile>\n")
		}
		if m.GetKind() == "Secret" && !showSecrets {
			if data, _, _ := unstructured.NestedStringMap(m.Object, "data"); data != nil {
				for k, v := range data {
					data[k] = fmt.Sprintf("<redacted: %d bytes of base64; --show-secrets prints them>", len(v))
				}
				if err := unstructured.SetNestedStringMap(m.Object, data, "data"); err != nil {
					return err
				}
			}
		}
		if err := printer.PrintObj(m, w); err != nil {
			return err
		}
	}
	return nil
}

// maxFleetFileRead bounds what -f reads (lifecycle.ParseFleet refuses more).
const maxFleetFileRead = 4<<20 + 1

// runOnboardFleet is onboard -f: every cluster of the fleet file through
// the single-cluster path (onboarding, apply), one line each; exit code 1
// if any failed.
func runOnboardFleet(parent context.Context, f *onboardFlags, stdout io.Writer) error {
	data, err := readFleetFile(f.file)
	if err != nil {
		return err
	}
	fl, err := lifecycle.ParseFleet(data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.file, err)
	}
	namespace, err := lifecycle.FleetNamespace(f.namespace, fl.Namespace)
	if err != nil {
		return asUsage(err)
	}
	// The flags every cluster shares, checked once.
	probe := *f
	probe.file, probe.namespace, probe.role = "", namespace, string(clusterprofiles.RoleAPINet)
	if err := probe.validate(); err != nil {
		return err
	}
	hub, hubHost, err := f.hubClient()
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.file)
	outcomes := lifecycle.ApplyFleet(parent, fl, func(ctx context.Context, c lifecycle.FleetCluster) ([]lifecycle.Applied, error) {
		e := f.forCluster(c, namespace, dir)
		if err := e.validate(); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		o, clusterCfg, err := e.onboarding()
		if err != nil {
			return nil, err
		}
		return e.apply(ctx, hub, hubHost, o, clusterCfg, io.Discard)
	})
	failed := 0
	for _, o := range outcomes {
		fmt.Fprintln(stdout, o)
		if o.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d clusters failed", failed, len(outcomes))
	}
	return nil
}

// forCluster is f with the flags of one cluster of a fleet file in
// directory dir.
func (f *onboardFlags) forCluster(c lifecycle.FleetCluster, namespace, dir string) *onboardFlags {
	e := *f
	e.file, e.clusterKC = "", nil
	e.namespace, e.name, e.role, e.peer = namespace, c.Name, string(c.Role), c.Peer
	e.apinetNamespace, e.takeOver, e.annotations = c.APINetNamespace, c.TakeOver, c.Settings
	e.clusterKubeconfig, e.context = c.KubeconfigPath(dir), c.Credentials.Context
	e.kubeconfigFlag = "kubeconfig " + e.clusterKubeconfig
	e.accessProvider, e.createSA = c.Credentials.AccessProvider, c.Credentials.CreateServiceAccount
	return &e
}

// readFleetFile reads -f ("-" is stdin), bounded.
func readFleetFile(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		if info, err := file.Stat(); err == nil && !info.Mode().IsRegular() && info.Mode()&os.ModeNamedPipe == 0 {
			return nil, fmt.Errorf("%s is not a regular file", path)
		}
		r = file
	}
	return io.ReadAll(io.LimitReader(r, maxFleetFileRead))
}
