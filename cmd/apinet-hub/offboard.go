package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// offboardFlags are the flags of `apinet-hub offboard`.
type offboardFlags struct {
	hub          hubConnection
	namespace    string
	release      bool
	purge        bool
	wait         time.Duration
	dryRun       bool
	withoutHub   bool
	consumer     string
	providerFile string
}

func (f *offboardFlags) bind(fs *pflag.FlagSet) {
	f.hub.bind(fs, "context")
	fs.StringVarP(&f.namespace, "namespace", "n", "", "hub namespace of the ClusterProfile (required)")
	fs.BoolVar(&f.release, "release", false,
		"hand the member back (to apinetlet): remove the hub's finalizers from the member's IronCore objects and leave every apinet object in place")
	fs.BoolVar(&f.purge, "purge", false,
		"remove the member's network: delete the apinet objects the hub wrote for it and release the apinet NetworkInterfaces it claimed, wait until they are gone, then remove the hub's finalizers")
	fs.DurationVar(&f.wait, "wait", 5*time.Minute, "deadline of the whole offboarding: the hub letting go of the member, and with --purge the apinet objects being gone")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check ownership and print what would change; write nothing")
	fs.BoolVar(&f.withoutHub, "without-hub", false,
		"do not wait for the hub to acknowledge (Engaged reason "+clusterprofiles.ReasonOffboarding+"): only when no hub is running for the fleet")
	fs.StringVar(&f.consumer, "consumer", clusterprofiles.DefaultConsumer, "x-k8s.io/cluster-inventory-consumer label of the credential Secrets (the hub's --consumer)")
	fs.StringVar(&f.providerFile, "clusterprofile-provider-file", "", "the hub's access-provider file, for profiles reached through an access provider")
}

func newOffboardCommand() *cobra.Command {
	var f offboardFlags
	cmd := &cobra.Command{
		Use:   "offboard NAME --namespace NS --release|--purge [flags]",
		Short: "take a cluster out of the fleet: release or purge its objects, then delete its ClusterProfile and Secret",
		Long: `Takes one cluster out of the fleet. For an IronCore member it first proves
that the profile's credentials reach the cluster the hub engaged (the identity
recorded on the profile), that the peer is the recorded apinet cluster, and that
the member's apinet namespace is recorded as the member's; it refuses
otherwise. It then marks the profile, waits for the hub to stop reconciling the
member (Engaged reason Offboarding), and

  --release  removes the hub's finalizers from the member's IronCore objects and
             leaves the apinet objects in place: the hand-back to apinetlet
             (see docs/operations.md, "Hand a member back to apinetlet");
  --purge    deletes the apinet objects the hub wrote for the member, releases
             the apinet NetworkInterfaces it claimed, waits until the objects
             are gone, removes the finalizers, and deletes the member's apinet
             namespace if nothing is left in it.

Last, it deletes the ClusterProfile and its credential Secret. An apinet peer
is offboarded only once no member names it. Objects of other members are never
read for writing: every change is limited to the member's own namespace and
label.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("give the ClusterProfile's name as the one argument (got %d)", len(args))
			}
			return nil
		},
		ValidArgsFunction: completeProfiles(&f.hub, &f.namespace),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOffboard(cmd.Context(), &f, args[0], cmd.OutOrStdout())
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

func (f *offboardFlags) validate(name string) error {
	if f.namespace == "" {
		return usagef("--namespace is required")
	}
	if e := validation.IsDNS1123Subdomain(name); len(e) > 0 {
		return usagef("%q is not a ClusterProfile name: %s", name, strings.Join(e, "; "))
	}
	if f.release == f.purge {
		return usagef("pass exactly one of --release (hand back, apinet objects stay) and --purge (apinet objects deleted)")
	}
	if f.wait <= 0 {
		return usagef("--wait must be positive")
	}
	return nil
}

func (f *offboardFlags) mode() string {
	if f.purge {
		return "purge"
	}
	return "release"
}

func runOffboard(parent context.Context, f *offboardFlags, name string, out io.Writer) error {
	if err := f.validate(name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(parent, f.wait)
	defer cancel()
	hub, err := f.hub.client()
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: f.namespace, Name: name}
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, key, cp); err != nil {
		return fmt.Errorf("get ClusterProfile %s: %w", key, err)
	}
	profile, problem := clusterprofiles.Parse(cp)
	if problem != nil {
		return fmt.Errorf("ClusterProfile %s: %s: %s; the hub never engaged it as it is, so offboard cannot tell what belongs to it", key, problem.Reason, problem.Message)
	}
	var o *reconcilers.Offboarding
	switch profile.Role {
	case clusterprofiles.RoleAPINet:
		if err := checkNoMembers(ctx, hub, key); err != nil {
			return err
		}
	case clusterprofiles.RoleIronCore:
		if o, err = f.provenOffboarding(ctx, hub, cp, profile); err != nil {
			return err
		}
		inv, err := o.Inventory(ctx)
		if err != nil {
			return err
		}
		printInventory(out, key, f, inv)
	}
	if f.dryRun {
		fmt.Fprintf(out, "dry run: nothing was changed\n")
		return nil
	}

	if err := markOffboarding(ctx, hub, cp, f.mode()); err != nil {
		return err
	}
	fmt.Fprintf(out, "clusterprofile %s marked for offboarding (%s)\n", key, f.mode())
	if !f.withoutHub {
		msg, err := waitOffboarding(ctx, hub, key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "the hub has stopped reconciling %s: %s\n", key, msg)
	}
	if o != nil {
		var removed int
		if f.purge {
			start := time.Now()
			if removed, err = o.Purge(ctx, 500*time.Millisecond); err != nil {
				return err
			}
			fmt.Fprintf(out, "deleted the member's apinet objects in namespace %s of peer %s (%s)\n", o.Namespace, profile.Peer, time.Since(start).Round(time.Millisecond))
			if deleted, err := deleteEmptyNamespace(ctx, o); err != nil {
				return err
			} else if deleted {
				fmt.Fprintf(out, "deleted namespace %s of peer %s, empty now\n", o.Namespace, profile.Peer)
			}
		} else if removed, err = o.Release(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %d finalizers of the hub from the member's IronCore objects\n", removed)
	}
	return deleteProfile(ctx, hub, cp, f.consumer, out)
}

// provenOffboarding proves what belongs to the member (its identity, its
// peer's, its namespace's owner record) and returns what offboards it.
func (f *offboardFlags) provenOffboarding(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, profile *clusterprofiles.Profile) (*reconcilers.Offboarding, error) {
	key := profile.Key
	peerCP := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, profile.Peer, peerCP); err != nil {
		return nil, fmt.Errorf("get the peer's ClusterProfile %s: %w", profile.Peer, err)
	}
	resolver := &clusterprofiles.CredentialResolver{Consumer: f.consumer, Secrets: hub}
	if f.providerFile != "" {
		ac, err := access.NewFromFile(f.providerFile)
		if err != nil {
			return nil, fmt.Errorf("--clusterprofile-provider-file: %w", err)
		}
		resolver.Access = ac
	}
	member, memberID, err := provenClient(ctx, resolver, cp, clusterprofiles.RoleIronCore)
	if err != nil {
		return nil, err
	}
	peer, _, err := provenClient(ctx, resolver, peerCP, clusterprofiles.RoleAPINet)
	if err != nil {
		return nil, err
	}
	o := &reconcilers.Offboarding{
		Member: member, Peer: peer, Namespace: profile.APINetNamespace,
		Label: clusterprofiles.LabelValue(clusterprofiles.ClusterName(key)),
	}
	ns := &corev1.Namespace{}
	if err := peer.Get(ctx, client.ObjectKey{Name: profile.APINetNamespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return o, nil // nothing of the member in the peer
		}
		return nil, fmt.Errorf("peer %s: get namespace %s: %w", profile.Peer, profile.APINetNamespace, err)
	}
	owner, claimed, err := clusterprofiles.OwnerOf(ns.Annotations)
	me := string(clusterprofiles.ClusterName(key))
	switch {
	case err != nil:
		return nil, fmt.Errorf("namespace %s of peer %s has a malformed owner record (%v): offboard cannot prove it is %s's and changes nothing", profile.APINetNamespace, profile.Peer, err, key)
	case !claimed:
		return nil, fmt.Errorf("namespace %s of peer %s has no owner record: the hub never claimed it for %s, so offboard changes nothing", profile.APINetNamespace, profile.Peer, key)
	case owner.Cluster != memberID || owner.Profile != me:
		return nil, fmt.Errorf("namespace %s of peer %s is recorded as owned by profile %s of cluster %s, not by %s of cluster %s: offboard changes nothing",
			profile.APINetNamespace, profile.Peer, owner.Profile, owner.Cluster, me, memberID)
	}
	o.TakenOver = owner.TakenOver
	return o, nil
}

// provenClient connects to a profile's cluster with the hub's credentials
// and proves it is the cluster recorded on the profile.
func provenClient(ctx context.Context, resolver *clusterprofiles.CredentialResolver, cp *clusterinventoryv1alpha1.ClusterProfile, role clusterprofiles.Role) (client.Client, clusterprofiles.Identity, error) {
	key := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
	pinned := clusterprofiles.PinnedIdentity(cp)
	if pinned == "" {
		return nil, "", fmt.Errorf("ClusterProfile %s records no cluster identity (status property %s): the hub never engaged it, so offboard cannot prove which cluster it is and changes nothing",
			key, clusterprofiles.PropertyClusterUID)
	}
	creds, problem := resolver.Resolve(ctx, cp)
	if problem != nil {
		return nil, "", fmt.Errorf("ClusterProfile %s: %s: %s", key, problem.Reason, problem.Message)
	}
	prober, err := clusterprofiles.NewProber(creds.Config, role)
	if err != nil {
		return nil, "", fmt.Errorf("ClusterProfile %s: %w", key, err)
	}
	defer prober.Close()
	reached, problem := prober.Probe(ctx)
	if problem == nil {
		problem = clusterprofiles.CheckPinned(pinned, reached)
	}
	if problem != nil {
		return nil, "", fmt.Errorf("ClusterProfile %s: %s: %s", key, problem.Reason, problem.Message)
	}
	cfg := rest.CopyConfig(creds.Config)
	cfg.QPS, cfg.Burst = 100, 200 // the hub's --member-qps/--member-burst: client-go's 5 QPS makes a purge of 200 objects take a minute
	c, err := client.New(cfg, client.Options{Scheme: clusterprofiles.Scheme})
	if err != nil {
		return nil, "", fmt.Errorf("ClusterProfile %s: %w", key, err)
	}
	return c, reached, nil
}

// checkNoMembers refuses to offboard a peer that members still name.
func checkNoMembers(ctx context.Context, hub client.Client, peer types.NamespacedName) error {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := hub.List(ctx, list, client.InNamespace(peer.Namespace), client.MatchingLabels{
		clusterprofiles.LabelRole: string(clusterprofiles.RoleIronCore), clusterprofiles.LabelPeer: peer.Name}); err != nil {
		return fmt.Errorf("list the members of peer %s: %w", peer, err)
	}
	if len(list.Items) > 0 {
		names := make([]string, 0, len(list.Items))
		for _, m := range list.Items {
			names = append(names, m.Name)
		}
		return fmt.Errorf("peer %s still has members (%s): offboard them first", peer, strings.Join(names, ", "))
	}
	return nil
}

func printInventory(out io.Writer, key types.NamespacedName, f *offboardFlags, inv reconcilers.Inventory) {
	count := func(m map[string]int) string {
		if len(m) == 0 {
			return "none"
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(out, "member %s: IronCore objects with finalizers of the hub: %s\n", key, count(inv.Finalized))
	verb := "stay (--release)"
	if f.purge {
		verb = "to delete"
	}
	fmt.Fprintf(out, "member %s: apinet objects %s: %s; claimed apinet NetworkInterfaces: %d\n", key, verb, count(inv.Written), inv.Claimed)
}

// markOffboarding sets clusterprofiles.AnnotationOffboarding.
func markOffboarding(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, mode string) error {
	patch := client.MergeFrom(cp.DeepCopy())
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[clusterprofiles.AnnotationOffboarding] = mode
	if err := hub.Patch(ctx, cp, patch); err != nil {
		return fmt.Errorf("mark ClusterProfile %s/%s for offboarding: %w", cp.Namespace, cp.Name, err)
	}
	return nil
}

// waitOffboarding waits until the hub reports ReasonOffboarding.
func waitOffboarding(ctx context.Context, hub client.Client, key types.NamespacedName) (string, error) {
	var msg, last string
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, key, cp); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
		if c == nil {
			return false, nil
		}
		last = c.Reason
		msg = c.Message
		return c.Reason == clusterprofiles.ReasonOffboarding, nil
	})
	if err != nil {
		return "", fmt.Errorf("the hub has not acknowledged the offboarding of %s (its Engaged reason is still %q): is apinet-hub running for namespace %s? Nothing was changed on the member; if no hub runs, pass --without-hub: %w",
			key, last, key.Namespace, err)
	}
	return msg, nil
}

// deleteEmptyNamespace deletes the member's namespace in the peer once it
// holds no apinet object of a kind the hub writes or claims (its owner
// record was checked before).
func deleteEmptyNamespace(ctx context.Context, o *reconcilers.Offboarding) (bool, error) {
	if empty, err := o.NamespaceEmpty(ctx); err != nil || !empty {
		return false, err
	}
	ns := &corev1.Namespace{}
	ns.Name = o.Namespace
	if err := o.Peer.Delete(ctx, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil // never created, or gone already
		}
		return false, fmt.Errorf("delete namespace %s of the peer: %w", o.Namespace, err)
	}
	return true, nil
}

// deleteProfile deletes the profile's credential Secrets, then the profile.
func deleteProfile(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, consumer string, out io.Writer) error {
	secrets := &corev1.SecretList{}
	if err := hub.List(ctx, secrets, client.InNamespace(cp.Namespace), client.MatchingLabels{
		clusterprofiles.LabelSecretProfile: cp.Name, clusterprofiles.LabelSecretConsumer: consumer}); err != nil {
		return fmt.Errorf("list the credential Secrets of %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	var errs []error
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if err := hub.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete Secret %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		fmt.Fprintf(out, "secret %s/%s deleted\n", s.Namespace, s.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := hub.Delete(ctx, cp); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete ClusterProfile %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	fmt.Fprintf(out, "clusterprofile %s/%s deleted\n", cp.Namespace, cp.Name)
	return nil
}
