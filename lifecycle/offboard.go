package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// An offboarding is resumable: its steps, in this order, are each safe to
// repeat, and a run ended anywhere (an error, --wait, an interrupt) is
// finished by running offboard again with the same mode.
//
//  1. marked: the profile carries clusterprofiles.AnnotationOffboarding
//     (the mode); from then on the hub writes nothing for the cluster, and a
//     profile carrying the mark is resumed, not offboarded afresh;
//  2. acknowledged: the hub reports Engaged reason Offboarding;
//  3. member: the member's objects are released or purged, with the
//     profile's credentials;
//  4. namespace: with --purge, the member's emptied namespace in the peer is
//     deleted, with the caller's own credentials (--peer-kubeconfig);
//  5. recorded: the profile records that 3 and 4 are done
//     (AnnotationOffboarded), after checking that the mark is still there;
//  6. secrets: the credential Secrets are deleted;
//  7. the profile is deleted.
//
// The profile stays until the last step, the credentials until nothing
// needs them: a resumption that finds the record of step 5 and no
// credential Secret left deletes the profile and is done.
const AnnotationOffboarded = "apinet-hub.ironcore.dev/offboarded"

// Offboard takes one cluster out of the fleet (see the steps above): the
// checked options of `apinet-hub offboard`.
type Offboard struct {
	// Key names the ClusterProfile.
	Key types.NamespacedName
	// Purge deletes the member's apinet objects; else they stay (release).
	Purge bool
	// DryRun checks ownership and prints what would change.
	DryRun bool
	// WithoutHub does not wait for the hub to acknowledge.
	WithoutHub bool
	// Consumer is the credential Secrets' consumer label; ProviderFile the
	// hub's access-provider file.
	Consumer, ProviderFile string
	// PeerKubeconfig, PeerContext: the operator's own credentials for the
	// peer, used for one request only: deleting the member's namespace.
	PeerKubeconfig, PeerContext string
	// RemoveAccess removes what onboard --create-service-account created in
	// the cluster (ServiceAccountAccess.Remove), with Caller; without
	// Caller it revokes the hub's token with the hub's own credentials and
	// says what stays.
	RemoveAccess bool
	// Caller, if set, is the caller's own config of the profile's cluster.
	Caller *rest.Config
	// AfterStep, if set, is called after each step with its name; an error
	// ends the run there, as an interruption would (tests).
	AfterStep func(step string) error
	// Out gets what is done, a line each.
	Out io.Writer
}

// Mode is the offboarding's mode, as the profile's mark records it.
func (f *Offboard) Mode() string {
	if f.Purge {
		return "purge"
	}
	return "release"
}

func (f *Offboard) stepDone(name string) error {
	if f.AfterStep == nil {
		return nil
	}
	if err := f.AfterStep(name); err != nil {
		return fmt.Errorf("interrupted after step %s: %w", name, err)
	}
	return nil
}

// Run offboards the cluster with the hub client hub, within ctx.
func (f *Offboard) Run(ctx context.Context, hub client.WithWatch) error {
	out, key := f.Out, f.Key
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, key, cp); err != nil {
		return fmt.Errorf("get ClusterProfile %s: %w", key, err)
	}
	profile, problem := clusterprofiles.ParseRecorded(cp)
	if problem != nil {
		return fmt.Errorf("ClusterProfile %s: %s: %s; the hub never engaged it as it is, so offboard cannot tell what belongs to it", key, problem.Reason, problem.Message)
	}
	marked, isMarked := cp.Annotations[clusterprofiles.AnnotationOffboarding]
	switch {
	case profile.Role == clusterprofiles.RoleIronCore && isMarked && marked == "purge" && !f.Purge:
		return fmt.Errorf("ClusterProfile %s is marked for an offboarding --purge that has not finished: some of the member's apinet objects may be deleted already, so it cannot become a release; re-run with --purge to finish it", key)
	case isMarked && marked == f.Mode():
		fmt.Fprintf(out, "clusterprofile %s is marked for offboarding (%s) already: resuming\n", key, marked)
	}
	resuming := isMarked && marked == f.Mode()
	recorded := resuming && cp.Annotations[AnnotationOffboarded] == f.Mode()
	if recorded {
		left, err := credentialSecrets(ctx, hub, cp, f.Consumer)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			// Steps 1-5 are done, the Secrets gone: only the profile is left.
			fmt.Fprintf(out, "an earlier run finished with the cluster's objects (annotation %s) and deleted its credentials: the profile is left\n", AnnotationOffboarded)
			if f.DryRun {
				fmt.Fprintf(out, "dry run: nothing was changed (clusterprofile %s would be deleted)\n", key)
				return nil
			}
			return f.deleteProfile(ctx, hub, cp)
		}
		// Steps 1-5 are done: the access, the Secrets and the profile are
		// left (the stored token may be revoked already).
		fmt.Fprintf(out, "an earlier run finished with the cluster's objects (annotation %s)\n", AnnotationOffboarded)
		if f.DryRun {
			fmt.Fprintf(out, "dry run: nothing was changed\n")
			return nil
		}
		return f.finish(ctx, hub, cp, profile)
	}
	var o *reconcilers.Offboarding
	var ownPeer client.Client
	var me clusterprofiles.Owner
	var err error
	switch profile.Role {
	case clusterprofiles.RoleAPINet:
		if err := checkNoMembers(ctx, hub, key); err != nil {
			return err
		}
	case clusterprofiles.RoleIronCore:
		if o, ownPeer, me, err = f.provenOffboarding(ctx, hub, cp, profile); err != nil {
			if !isMarked {
				return err
			}
			if left, lerr := credentialSecrets(ctx, hub, cp, f.Consumer); lerr == nil && len(left) == 0 && len(cp.Status.AccessProviders) == 0 {
				return fmt.Errorf("%w; the profile's credential Secrets are gone, but no earlier run recorded the cluster's objects as done (annotation %s): the hub's finalizers and, for a purge, apinet objects may be left. Restore the credential Secret (apinet-hub onboard again with the same name) and run offboard again; the profile stays marked for offboarding (%s), so the hub leaves the cluster alone meanwhile",
					err, AnnotationOffboarded, marked)
			}
			return fmt.Errorf("%w; the profile stays marked for offboarding (%s), so the hub leaves the cluster alone: run offboard again once this is fixed (docs/operations.md, Offboard)", err, marked)
		}
		inv, err := o.Inventory(ctx)
		if err != nil {
			return err
		}
		printInventory(out, key, f, inv)
		if !f.Purge {
			if err := checkHandback(ctx, o, cp); err != nil {
				return err
			}
		}
	}
	if f.DryRun {
		fmt.Fprintf(out, "dry run: nothing was changed\n")
		return nil
	}

	if !resuming {
		if err := markOffboarding(ctx, hub, cp, f.Mode()); err != nil {
			return err
		}
		fmt.Fprintf(out, "clusterprofile %s marked for offboarding (%s)\n", key, f.Mode())
	}
	if err := f.stepDone("marked"); err != nil {
		return err
	}
	if !f.WithoutHub {
		msg, err := waitOffboarding(ctx, hub, key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "the hub has stopped reconciling %s: %s\n", key, msg)
	}
	if err := f.stepDone("acknowledged"); err != nil {
		return err
	}
	if o != nil {
		var removed int
		if f.Purge {
			start := time.Now()
			if removed, err = o.Purge(ctx, 500*time.Millisecond); err != nil {
				return err
			}
			fmt.Fprintf(out, "deleted the member's apinet objects in namespace %s of peer %s (%s)\n", o.Namespace, profile.Peer, time.Since(start).Round(time.Millisecond))
		} else if removed, err = o.Release(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %d finalizers of the hub from the member's IronCore objects\n", removed)
		if err := f.stepDone("member"); err != nil {
			return err
		}
		if f.Purge {
			if err := deleteMemberNamespace(ctx, o, ownPeer, me, profile.Peer, out); err != nil {
				return err
			}
		}
		if err := f.stepDone("namespace"); err != nil {
			return err
		}
		if err := recordOffboarded(ctx, hub, key, f.Mode()); err != nil {
			return err
		}
		if err := f.stepDone("recorded"); err != nil {
			return err
		}
	}
	return f.finish(ctx, hub, cp, profile)
}

// finish removes the hub's access to the cluster if asked (step
// "access"), then the credential Secrets and the profile.
func (f *Offboard) finish(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, profile *clusterprofiles.Profile) error {
	if f.RemoveAccess {
		if err := f.removeAccess(ctx, hub, cp, profile); err != nil {
			return err
		}
	}
	if err := f.stepDone("access"); err != nil {
		return err
	}
	return f.deleteProfile(ctx, hub, cp)
}

// removeAccess removes, for each credential Secret whose token onboard
// made, what onboard created in the cluster: with the caller's credentials
// (proved to reach the recorded cluster) the hub's token and, unless other
// profiles' tokens of the same ServiceAccount are anchored there, everything
// (ServiceAccountAccess.Remove); else only the hub's token, revoked with the
// hub's own credentials (its Role allows that). It says what stays.
func (f *Offboard) removeAccess(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, profile *clusterprofiles.Profile) error {
	secrets, err := credentialSecrets(ctx, hub, cp, f.Consumer)
	if err != nil {
		return err
	}
	pinned := clusterprofiles.PinnedIdentity(cp)
	for i := range secrets {
		secret := &secrets[i]
		access, anchor, err := tokenOf(secret)
		if err != nil {
			fmt.Fprintf(f.Out, "secret %s/%s: no access of onboard --create-service-account recorded: nothing to remove in the cluster\n", secret.Namespace, secret.Name)
			continue
		}
		access.Role = profile.Role
		if f.Caller != nil {
			c, _, err := provenConfigClient(ctx, f.Caller, pinned, profile.Role, "your credentials of the cluster")
			if err != nil {
				return err
			}
			removed, keptBy, err := access.Remove(ctx, c, anchor)
			if err != nil {
				return err
			}
			if len(removed) > 0 {
				fmt.Fprintf(f.Out, "removed from the cluster: %s\n", strings.Join(removed, ", "))
			}
			if len(keptBy) > 0 {
				fmt.Fprintf(f.Out, "ServiceAccount %s/%s, its bindings and roles stay in the cluster: other tokens of it are anchored there (secret %s), of other profiles of this cluster or made before and never revoked; they go with the offboarding of the last profile that uses them (delete an anchor nothing uses to revoke its token)\n",
					access.Namespace, access.Name, strings.Join(keptBy, ", secret "))
			}
			continue
		}
		cfg, err := clusterprofiles.RESTConfigFromSecretKubeconfig(secret.Data[clusterprofiles.SecretKeyConfig])
		if err != nil {
			return fmt.Errorf("Secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		c, _, err := provenConfigClient(ctx, cfg, pinned, profile.Role, "the hub's stored credentials")
		switch {
		case err != nil && credentialsRejected(ctx, cfg, profile.Role):
			fmt.Fprintf(f.Out, "the hub's token of the cluster is rejected already (revoked)\n")
		case err != nil:
			return err
		case anchor.Name != "":
			if err := RevokeToken(ctx, c, anchor); err != nil {
				return fmt.Errorf("revoke the hub's token (anchor %s): %w", anchor, err)
			}
			fmt.Fprintf(f.Out, "the hub's token of the cluster is revoked (anchor secret %s deleted)\n", anchor)
		}
		fmt.Fprintf(f.Out, "ServiceAccount %s/%s, its bindings and roles stay in the cluster: remove them with your own credentials of it (offboard --remove-access --cluster-kubeconfig)\n", access.Namespace, access.Name)
	}
	return nil
}

// credentialsRejected tells whether the cluster of cfg rejects its
// credentials (HTTP 401: a revoked or expired token). The probe of
// provenConfigClient reports its problem as text only, so this asks once more
// for a typed API error.
func credentialsRejected(ctx context.Context, cfg *rest.Config, role clusterprofiles.Role) bool {
	return apierrors.IsUnauthorized(CheckClusterRole(ctx, cfg, role))
}

// provenOffboarding proves what belongs to the member (its identity, its
// peer's, its namespace's owner record) and returns what offboards it; with
// --peer-kubeconfig also the caller's own client of the peer, proved to
// reach the recorded peer; and the member's owner record.
func (f *Offboard) provenOffboarding(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, profile *clusterprofiles.Profile) (*reconcilers.Offboarding, client.Client, clusterprofiles.Owner, error) {
	key := profile.Key
	me := clusterprofiles.Owner{Profile: string(clusterprofiles.ClusterName(key))}
	peerCP := &clusterinventoryv1alpha1.ClusterProfile{}
	if err := hub.Get(ctx, profile.Peer, peerCP); err != nil {
		return nil, nil, me, fmt.Errorf("get the peer's ClusterProfile %s: %w", profile.Peer, err)
	}
	resolver := &clusterprofiles.CredentialResolver{Consumer: f.Consumer, Secrets: hub}
	if f.ProviderFile != "" {
		ac, err := access.NewFromFile(f.ProviderFile)
		if err != nil {
			return nil, nil, me, fmt.Errorf("--clusterprofile-provider-file: %w", err)
		}
		resolver.Access = ac
	}
	member, memberID, err := provenClient(ctx, resolver, cp, clusterprofiles.RoleIronCore)
	if err != nil {
		return nil, nil, me, err
	}
	me.Cluster = memberID
	peer, _, err := provenClient(ctx, resolver, peerCP, clusterprofiles.RoleAPINet)
	if err != nil {
		return nil, nil, me, err
	}
	var own client.Client
	if f.PeerKubeconfig != "" {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.PeerKubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: f.PeerContext}).ClientConfig()
		if err != nil {
			return nil, nil, me, fmt.Errorf("--peer-kubeconfig: %w", err)
		}
		pinned := clusterprofiles.PinnedIdentity(peerCP)
		if pinned == "" {
			return nil, nil, me, fmt.Errorf("ClusterProfile %s records no cluster identity: offboard cannot prove that --peer-kubeconfig reaches the peer", profile.Peer)
		}
		if own, _, err = provenConfigClient(ctx, cfg, pinned, clusterprofiles.RoleAPINet, "--peer-kubeconfig (the peer "+profile.Peer.String()+")"); err != nil {
			return nil, nil, me, err
		}
	}
	o := &reconcilers.Offboarding{
		Member: member, Peer: peer, Namespace: profile.APINetNamespace,
		Label: clusterprofiles.LabelValue(clusterprofiles.ClusterName(key)),
	}
	ns := &corev1.Namespace{}
	if err := peer.Get(ctx, client.ObjectKey{Name: profile.APINetNamespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return o, own, me, nil // nothing of the member in the peer
		}
		return nil, nil, me, fmt.Errorf("peer %s: get namespace %s: %w", profile.Peer, profile.APINetNamespace, err)
	}
	owner, claimed, err := clusterprofiles.OwnerOf(ns.Annotations)
	switch {
	case err != nil:
		return nil, nil, me, fmt.Errorf("namespace %s of peer %s has a malformed owner record (%v): offboard cannot prove it is %s's and changes nothing", profile.APINetNamespace, profile.Peer, err, key)
	case !claimed:
		return nil, nil, me, fmt.Errorf("namespace %s of peer %s has no owner record: the hub never claimed it for %s, so offboard changes nothing", profile.APINetNamespace, profile.Peer, key)
	case owner.Cluster != me.Cluster || owner.Profile != me.Profile:
		return nil, nil, me, fmt.Errorf("namespace %s of peer %s is recorded as owned by profile %s of cluster %s, not by %s of cluster %s: offboard changes nothing",
			profile.APINetNamespace, profile.Peer, owner.Profile, owner.Cluster, me.Profile, me.Cluster)
	}
	o.TakenOver = owner.TakenOver
	return o, own, me, nil
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
	return provenConfigClient(ctx, creds.Config, pinned, role, "ClusterProfile "+key.String())
}

// provenConfigClient connects with cfg and proves it reaches the cluster
// pinned (what names the credentials in errors).
func provenConfigClient(ctx context.Context, cfg *rest.Config, pinned clusterprofiles.Identity, role clusterprofiles.Role, what string) (client.Client, clusterprofiles.Identity, error) {
	prober, err := clusterprofiles.NewProber(cfg, role)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	defer prober.Close()
	reached, problem := prober.Probe(ctx)
	if problem == nil {
		problem = clusterprofiles.CheckPinned(pinned, reached)
	}
	if problem != nil {
		return nil, "", fmt.Errorf("%s: %s: %s", what, problem.Reason, problem.Message)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200 // the hub's --member-qps/--member-burst: client-go's 5 QPS makes a purge of 200 objects take a minute
	c, err := client.New(cfg, client.Options{Scheme: clusterprofiles.Scheme})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	return c, reached, nil
}

// checkNoMembers refuses to offboard a peer that members still name
// (membersOf).
func checkNoMembers(ctx context.Context, hub client.Client, peer types.NamespacedName) error {
	list := &clusterinventoryv1alpha1.ClusterProfileList{}
	if err := hub.List(ctx, list, client.InNamespace(peer.Namespace)); err != nil {
		return fmt.Errorf("list the members of peer %s: %w", peer, err)
	}
	if names := membersOf(list.Items, peer.Name); len(names) > 0 {
		return fmt.Errorf("peer %s still has members (%s): offboard them first", peer, strings.Join(names, ", "))
	}
	return nil
}

// membersOf names the IronCore profiles of profiles (one namespace) that
// map into the apinet profile peer: by their labels, or by the role and
// peer the hub's pairing gave them (clusterprofiles.Recorded); not those
// whose offboarding has finished with their objects (AnnotationOffboarded
// as their mark: another manager's profile, kept).
func membersOf(profiles []clusterinventoryv1alpha1.ClusterProfile, peer string) []string {
	var names []string
	for i := range profiles {
		cp := &profiles[i]
		if mark, ok := cp.Annotations[clusterprofiles.AnnotationOffboarding]; ok && cp.Annotations[AnnotationOffboarded] == mark {
			continue
		}
		if a, ok := clusterprofiles.Recorded(cp); ok && a.Role == string(clusterprofiles.RoleIronCore) && a.Peer == peer {
			names = append(names, profiles[i].Name)
		}
	}
	return names
}

func printInventory(out io.Writer, key types.NamespacedName, f *Offboard, inv reconcilers.Inventory) {
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
	if f.Purge {
		verb = "to delete"
	}
	fmt.Fprintf(out, "member %s: apinet objects %s: %s; claimed apinet NetworkInterfaces: %d\n", key, verb, count(inv.Written), inv.Claimed)
}

// handbackLayout is the member's hand-back layout (annotation
// clusterprofiles.AnnotationHandbackLayout, HEAD's if unset); an invalid
// value is an error: offboard cannot tell which apinetlet is to adopt the
// member's objects.
func handbackLayout(cp *clusterinventoryv1alpha1.ClusterProfile) (clusterprofiles.HandbackLayout, error) {
	settings, problems := clusterprofiles.ParseSettings(cp, clusterprofiles.Settings{})
	for _, p := range problems {
		if strings.HasPrefix(p.Message, "annotation "+clusterprofiles.AnnotationHandbackLayout+"=") {
			return "", fmt.Errorf("ClusterProfile %s/%s: %s", cp.Namespace, cp.Name, p.Message)
		}
	}
	return settings.Layout(), nil
}

// checkHandback refuses a release whose apinet objects the apinetlet of
// the member's hand-back layout could not adopt, naming each.
func checkHandback(ctx context.Context, o *reconcilers.Offboarding, cp *clusterinventoryv1alpha1.ClusterProfile) error {
	layout, err := handbackLayout(cp)
	if err != nil {
		return err
	}
	blockers, err := o.HandbackBlockers(ctx, layout)
	if err != nil {
		return err
	}
	return handbackRefusal(cp, layout, blockers)
}

// handbackRefusal is the error that refuses a release to the apinetlet of
// layout over blockers (nil if there are none).
func handbackRefusal(cp *clusterinventoryv1alpha1.ClusterProfile, layout clusterprofiles.HandbackLayout, blockers []string) error {
	if len(blockers) == 0 {
		return nil
	}
	return fmt.Errorf("refusing --release of %s/%s: apinetlet %s (the profile's hand-back layout, annotation %s) could not adopt %d apinet objects of the member; each of its reconciles of them would fail, and their changes would never reach apinet:\n  %s\n"+
		"Nothing was changed. Set annotation %s on the profile to the layout of the apinetlet the member will run, if these objects have its layout; or delete and recreate these LoadBalancers in IronCore while the hub runs with the layout set (new ones get it); or offboard with --purge. See docs/operations.md, \"Hand a member back to apinetlet\"",
		cp.Namespace, cp.Name, layout, clusterprofiles.AnnotationHandbackLayout, len(blockers), strings.Join(blockers, "\n  "), clusterprofiles.AnnotationHandbackLayout)
}

// markOffboarding sets clusterprofiles.AnnotationOffboarding to mode and
// removes a record of an earlier offboarding (AnnotationOffboarded): a
// profile whose mark was removed since has been engaged again.
func markOffboarding(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, mode string) error {
	patch := client.MergeFrom(cp.DeepCopy())
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[clusterprofiles.AnnotationOffboarding] = mode
	delete(cp.Annotations, AnnotationOffboarded)
	if err := hub.Patch(ctx, cp, patch); err != nil {
		return fmt.Errorf("mark ClusterProfile %s/%s for offboarding: %w", cp.Namespace, cp.Name, err)
	}
	return nil
}

// recordOffboarded records on the profile that the cluster's objects are
// done (AnnotationOffboarded = mode), so that the credentials may go. It
// refuses if the mark is no longer mode: someone removed it during the run,
// and the hub may be reconciling the cluster again.
func recordOffboarded(ctx context.Context, hub client.Client, key types.NamespacedName, mode string) error {
	// The optimistic lock ties the record to the mark read; the hub's own
	// status writes also move the resourceVersion, hence the retries.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cp := &clusterinventoryv1alpha1.ClusterProfile{}
		if err := hub.Get(ctx, key, cp); err != nil {
			return fmt.Errorf("get ClusterProfile %s: %w", key, err)
		}
		if got, ok := cp.Annotations[clusterprofiles.AnnotationOffboarding]; !ok || got != mode {
			return fmt.Errorf("the offboarding mark of ClusterProfile %s was removed or changed during the run (annotation %s now %q, was %q): the hub may be reconciling the cluster again, so offboard stops here and deletes neither credentials nor profile; run offboard again to finish (docs/operations.md, Offboard)",
				key, clusterprofiles.AnnotationOffboarding, got, mode)
		}
		if cp.Annotations[AnnotationOffboarded] == mode {
			return nil
		}
		patch := client.MergeFromWithOptions(cp.DeepCopy(), client.MergeFromWithOptimisticLock{})
		cp.Annotations[AnnotationOffboarded] = mode
		return hub.Patch(ctx, cp, patch)
	})
	if err != nil {
		return fmt.Errorf("record on ClusterProfile %s that its cluster's objects are done: %w", key, err)
	}
	return nil
}

// waitOffboarding waits until the hub reports ReasonOffboarding.
func waitOffboarding(ctx context.Context, hub client.WithWatch, key types.NamespacedName) (string, error) {
	var msg, last string
	err := WaitForProfile(ctx, hub, key, func(cp *clusterinventoryv1alpha1.ClusterProfile) (bool, error) {
		c := meta.FindStatusCondition(cp.Status.Conditions, clusterprofiles.ConditionEngaged)
		if c == nil {
			return false, nil
		}
		last, msg = c.Reason, c.Message
		return c.Reason == clusterprofiles.ReasonOffboarding, nil
	})
	if err != nil {
		return "", fmt.Errorf("the hub has not acknowledged the offboarding of %s (its Engaged reason is still %q): is apinet-hub running for namespace %s? Nothing was changed on the member; if no hub runs, pass --without-hub: %w",
			key, last, key.Namespace, err)
	}
	return msg, nil
}

// systemNamespaces are never deleted by offboard, even if a profile named
// one as its apinet namespace and the hub claimed it.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// deleteMemberNamespace deletes the member's namespace in the peer once it
// holds no apinet object of a kind the hub writes or claims, with the
// caller's own client of the peer (own): the hub's role in the peer may not
// delete namespaces. Without own it keeps the namespace and says how to
// delete it. The namespace must still carry the member's owner record (me),
// and is deleted only as it was read (UID and resourceVersion
// preconditions): a namespace re-claimed or replaced meanwhile stays.
func deleteMemberNamespace(ctx context.Context, o *reconcilers.Offboarding, own client.Client, me clusterprofiles.Owner, peer types.NamespacedName, out io.Writer) error {
	reader := o.Peer
	if own != nil {
		reader = own
	}
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, client.ObjectKey{Name: o.Namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // never created, or gone already
		}
		return fmt.Errorf("peer %s: get namespace %s: %w", peer, o.Namespace, err)
	}
	if ns.DeletionTimestamp != nil {
		fmt.Fprintf(out, "namespace %s of peer %s is being deleted already\n", o.Namespace, peer)
		return nil
	}
	if owner, claimed, err := clusterprofiles.OwnerOf(ns.Annotations); err != nil || !claimed || owner.Cluster != me.Cluster || owner.Profile != me.Profile {
		return fmt.Errorf("namespace %s of peer %s no longer carries the owner record of %s (cluster %s): it is not deleted", o.Namespace, peer, me.Profile, me.Cluster)
	}
	if empty, err := o.NamespaceEmpty(ctx); err != nil {
		return err
	} else if !empty {
		fmt.Fprintf(out, "namespace %s of peer %s still holds apinet objects the hub did not write for the member: kept\n", o.Namespace, peer)
		return nil
	}
	if slices.Contains(systemNamespaces, o.Namespace) {
		fmt.Fprintf(out, "namespace %s of peer %s is empty and kept: it is one of Kubernetes' own namespaces, whatever its owner record says\n", o.Namespace, peer)
		return nil
	}
	if own == nil {
		fmt.Fprintf(out, "namespace %s of peer %s is empty and kept: the hub's role in the peer may not delete namespaces. Delete it with your own credentials of the peer (kubectl delete namespace %s; its owner record names %s), or run offboard again with --peer-kubeconfig before it finishes\n",
			o.Namespace, peer, o.Namespace, me.Profile)
		return nil
	}
	if err := own.Delete(ctx, ns, client.Preconditions{UID: ptr.To(ns.UID), ResourceVersion: ptr.To(ns.ResourceVersion)}); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			return fmt.Errorf("namespace %s of peer %s changed after its owner record was checked: it is not deleted; run offboard again: %w", o.Namespace, peer, err)
		}
		return fmt.Errorf("delete namespace %s of peer %s with --peer-kubeconfig: %w", o.Namespace, peer, err)
	}
	fmt.Fprintf(out, "deleted namespace %s of peer %s, empty now (with --peer-kubeconfig)\n", o.Namespace, peer)
	return nil
}

// credentialSecrets lists the profile's credential Secrets.
func credentialSecrets(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile, consumer string) ([]corev1.Secret, error) {
	secrets := &corev1.SecretList{}
	if err := hub.List(ctx, secrets, client.InNamespace(cp.Namespace), client.MatchingLabels{
		clusterprofiles.LabelSecretProfile: cp.Name, clusterprofiles.LabelSecretConsumer: consumer}); err != nil {
		return nil, fmt.Errorf("list the credential Secrets of %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	return secrets.Items, nil
}

// deleteProfile deletes the profile's credential Secrets, then the profile
// unless the hub's pairing gave it its role (another manager's profile,
// kept with its offboarding mark).
func (f *Offboard) deleteProfile(ctx context.Context, hub client.Client, cp *clusterinventoryv1alpha1.ClusterProfile) error {
	out := f.Out
	secrets, err := credentialSecrets(ctx, hub, cp, f.Consumer)
	if err != nil {
		return err
	}
	var errs []error
	for i := range secrets {
		s := &secrets[i]
		if err := hub.Delete(ctx, s, client.Preconditions{UID: ptr.To(s.UID)}); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete Secret %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		fmt.Fprintf(out, "secret %s/%s deleted\n", s.Namespace, s.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := f.stepDone("secrets"); err != nil {
		return err
	}
	if a, ok := clusterprofiles.Recorded(cp); ok && a.Paired {
		// Another cluster manager's profile, paired by the hub's rules: not
		// the hub's to delete (its manager would write it again, and the
		// rules pair it again). The mark keeps the hub away from it.
		fmt.Fprintf(out, "clusterprofile %s/%s is kept: it is not the hub's (cluster manager %q; its role and peer come from the hub's pairing). It stays marked for offboarding (annotation %s), so the hub leaves it alone: exclude it from the pairing rules, or have its manager remove it\n",
			cp.Namespace, cp.Name, cp.Spec.ClusterManager.Name, clusterprofiles.AnnotationOffboarding)
		return nil
	}
	if err := hub.Delete(ctx, cp, client.Preconditions{UID: ptr.To(cp.UID)}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete ClusterProfile %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	fmt.Fprintf(out, "clusterprofile %s/%s deleted\n", cp.Namespace, cp.Name)
	return nil
}
