package clusterprofiles

import (
	"errors"
	"fmt"
	"maps"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// This file decides which IronCore cluster owns a member's apinet namespace
// in its peer. A profile's credentials can come to reach another cluster
// than the one whose objects the namespace holds (a Secret swapped for the
// wrong kubeconfig, a profile deleted and re-created for another cluster),
// and an apinet namespace can already be in use by apinetlet or by another
// hub member. Mapping the wrong cluster into a namespace would delete the
// objects of the right one, so the hub records on the namespace which
// cluster and profile own it and uses it only when that claim is the
// member's.

// Annotations on the apinet namespace in the peer, written by the hub when
// it creates or first claims the namespace.
const (
	// AnnotationOwnerClusterUID is the Identity of the IronCore cluster that
	// owns the namespace: the UID of its kube-system namespace.
	AnnotationOwnerClusterUID = "apinet-hub.ironcore.dev/owner-cluster-uid"
	// AnnotationOwnerProfile is "<namespace>/<name>" of the ClusterProfile
	// that claimed the namespace.
	AnnotationOwnerProfile = "apinet-hub.ironcore.dev/owner-profile"
	// AnnotationTakenOver is "true" when the namespace was claimed by an
	// explicit take-over (AnnotationTakeOver): it may hold apinet objects
	// the hub did not write, such as apinetlet's.
	AnnotationTakenOver = "apinet-hub.ironcore.dev/taken-over"
)

// Identity is which cluster a credential reaches: the UID of its
// kube-system namespace, which lives as long as the cluster and does not
// change with its address or credentials.
type Identity string

// Owner is the claim recorded on an apinet namespace.
type Owner struct {
	// Cluster is the IronCore cluster that owns the namespace.
	Cluster Identity
	// Profile is "<namespace>/<name>" of the ClusterProfile that claimed
	// it (the member's cluster name in the hub).
	Profile string
	// TakenOver is true when the namespace was claimed by an explicit
	// take-over and may hold objects the hub did not write.
	TakenOver bool
}

// OwnerOf reads the claim of a namespace's annotations. ok=false: unclaimed
// (none of the owner annotations is there). A half-written or malformed
// claim (only one of the two owner annotations, or AnnotationTakenOver
// alone, an empty value, a profile value that is not "<ns>/<name>",
// taken-over not "true"/"false") is an error, with a zero owner and
// ok=false: the hub treats the namespace as not its own, since it cannot
// tell whose it is.
func OwnerOf(annotations map[string]string) (owner Owner, ok bool, err error) {
	uid, hasUID := annotations[AnnotationOwnerClusterUID]
	profile, hasProfile := annotations[AnnotationOwnerProfile]
	takenOver, hasTakenOver := annotations[AnnotationTakenOver]
	if !hasUID && !hasProfile && !hasTakenOver {
		return Owner{}, false, nil
	}
	var errs []error
	switch {
	case !hasUID:
		errs = append(errs, fmt.Errorf("annotation %s is missing", AnnotationOwnerClusterUID))
	case uid == "":
		errs = append(errs, fmt.Errorf("annotation %s is empty", AnnotationOwnerClusterUID))
	}
	switch {
	case !hasProfile:
		errs = append(errs, fmt.Errorf("annotation %s is missing", AnnotationOwnerProfile))
	case profile == "":
		errs = append(errs, fmt.Errorf("annotation %s is empty", AnnotationOwnerProfile))
	default:
		if err := validProfileName(profile); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s=%q: %w", AnnotationOwnerProfile, profile, err))
		}
	}
	if hasTakenOver && takenOver != "true" && takenOver != "false" {
		errs = append(errs, fmt.Errorf("annotation %s=%q is not \"true\" or \"false\"", AnnotationTakenOver, takenOver))
	}
	if len(errs) > 0 {
		return Owner{}, false, errors.Join(errs...)
	}
	return Owner{Cluster: Identity(uid), Profile: profile, TakenOver: takenOver == "true"}, true, nil
}

// validProfileName checks that s is "<namespace>/<name>" of a
// ClusterProfile the API server would accept.
func validProfileName(s string) error {
	key, err := ParseClusterName(multicluster.ClusterName(s))
	if err != nil {
		return err
	}
	if errs := validation.IsDNS1123Label(key.Namespace); len(errs) > 0 {
		return fmt.Errorf("%q is not a namespace name: %s", key.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(key.Name); len(errs) > 0 {
		return fmt.Errorf("%q is not a ClusterProfile name: %s", key.Name, strings.Join(errs, "; "))
	}
	return nil
}

// Annotations are the annotations that record o. AnnotationTakenOver is
// there only when true: a claim never goes from taken over back to not
// (see Claim), so a writer merges these into the namespace's annotations.
func (o Owner) Annotations() map[string]string {
	a := map[string]string{
		AnnotationOwnerClusterUID: string(o.Cluster),
		AnnotationOwnerProfile:    o.Profile,
	}
	if o.TakenOver {
		a[AnnotationTakenOver] = "true"
	}
	return a
}

// Contents counts the apinet objects of a namespace by their cluster label
// (LabelCluster, whose value is a member's LabelValue).
type Contents struct {
	// Mine are labelled for the member asking; Unlabelled have no
	// LabelCluster (the hub did not write them: apinetlet's, for example).
	Mine, Unlabelled int
	// Others counts the objects labelled for other members, by label value;
	// nil if there are none.
	Others map[string]int
}

// CountContents counts the objects of the given labels for the member whose
// label (LabelValue) is memberLabel. A nil map is an unlabelled object; an
// empty label value belongs to no member and counts as another's, so that
// it is never adopted.
func CountContents(labels []map[string]string, memberLabel string) Contents {
	var c Contents
	for _, l := range labels {
		v, ok := l[LabelCluster]
		switch {
		case !ok:
			c.Unlabelled++
		case v == memberLabel:
			c.Mine++
		default:
			if c.Others == nil {
				c.Others = map[string]int{}
			}
			c.Others[v]++
		}
	}
	return c
}

// Claim decides whether the member me (its identity, its profile name, its
// cluster label, whether its profile asks for take-over) may use a
// namespace: nsAnnotations are the namespace's annotations, exists is false
// when the namespace does not exist yet, contents counts its apinet objects
// (CountContents with memberLabel). It returns what to record on the
// namespace (nil: nothing to write) or a Problem, never both; a record is
// always me, with TakenOver as the rules below set it (me.TakenOver is not
// read).
//
//   - A missing namespace is the member's: record me.
//   - Claimed by another cluster: ReasonIdentityMismatch. The credentials
//     reach another cluster than the one whose objects the namespace holds.
//   - Claimed by another profile of the same cluster: ReasonNamespaceNotOwned,
//     unless takeOver; then record me, TakenOver kept as recorded (whether
//     the namespace holds objects the hub did not write is unchanged).
//   - Claimed by me: nothing to write.
//   - A malformed claim: ReasonNamespaceNotOwned.
//   - Unclaimed, with objects of other members: ReasonNamespaceNotOwned, even
//     with takeOver (those members' objects must not become this one's).
//   - Unclaimed, with objects without a cluster label: ReasonNamespaceNotOwned
//     unless takeOver; then record me with TakenOver.
//   - Unclaimed otherwise (empty, or only objects labelled for me, written by
//     an earlier hub version): record me.
//
// The messages say "the apinet namespace"; the caller knows its name.
func Claim(nsAnnotations map[string]string, exists bool, me Owner, memberLabel string, takeOver bool, contents Contents) (record *Owner, problem *Problem) {
	if _, _, err := OwnerOf(me.Annotations()); err != nil {
		// A claim the hub cannot read back would lock the member out later.
		return nil, problemf(ReasonNamespaceNotOwned, "the hub cannot claim the apinet namespace for this member: its own claim would be malformed (%s); nothing is written. This is a bug of apinet-hub; please report it", oneLine(err))
	}
	if !exists {
		return &Owner{Cluster: me.Cluster, Profile: me.Profile}, nil
	}
	owner, claimed, err := OwnerOf(nsAnnotations)
	if err != nil {
		return nil, problemf(ReasonNamespaceNotOwned, "the apinet namespace carries a malformed owner claim (%v), so the hub cannot tell whether it is this member's and writes nothing there. Fix or remove the annotations %s, %s and %s on the namespace in the peer, or pick another namespace with annotation %s on this profile",
			oneLine(err), AnnotationOwnerClusterUID, AnnotationOwnerProfile, AnnotationTakenOver, AnnotationAPINetNamespace)
	}
	if claimed {
		switch {
		case owner.Cluster != me.Cluster:
			return nil, problemf(ReasonIdentityMismatch, "the credentials of this profile reach another IronCore cluster than the one that owns the apinet namespace: they reach cluster %s, the namespace is owned by cluster %s (UIDs of their kube-system namespaces; claimed by profile %s). Nothing is written or deleted for this member; check the profile's credentials (its Secret or access provider), or, if this is another cluster on purpose, give it another namespace with annotation %s",
				me.Cluster, owner.Cluster, owner.Profile, AnnotationAPINetNamespace)
		case owner.Profile == me.Profile:
			return nil, nil
		case !takeOver:
			return nil, problemf(ReasonNamespaceNotOwned, "the apinet namespace is owned by profile %s of the same IronCore cluster; to move it to this profile, set annotation %s=true here once %s no longer maps into it, or pick another namespace with annotation %s",
				owner.Profile, AnnotationTakeOver, owner.Profile, AnnotationAPINetNamespace)
		default:
			return &Owner{Cluster: me.Cluster, Profile: me.Profile, TakenOver: owner.TakenOver}, nil
		}
	}
	if others := othersThan(contents.Others, memberLabel); len(others) > 0 {
		return nil, problemf(ReasonNamespaceNotOwned, "the apinet namespace is claimed by no cluster but holds apinet objects of other hub members (%s; this member's are %s=%s); the hub never adopts those, not even with %s. Pick another namespace with annotation %s",
			others, LabelCluster, memberLabel, AnnotationTakeOver, AnnotationAPINetNamespace)
	}
	if contents.Unlabelled > 0 {
		if !takeOver {
			return nil, problemf(ReasonNamespaceNotOwned, "the apinet namespace is claimed by no cluster and holds %d apinet objects the hub did not write (without label %s; apinetlet's, for example). To take it over from apinetlet, set annotation %s=true on this ClusterProfile; otherwise pick another namespace with annotation %s",
				contents.Unlabelled, LabelCluster, AnnotationTakeOver, AnnotationAPINetNamespace)
		}
		return &Owner{Cluster: me.Cluster, Profile: me.Profile, TakenOver: true}, nil
	}
	return &Owner{Cluster: me.Cluster, Profile: me.Profile}, nil
}

// othersThan lists the label values of others but mine with their counts,
// sorted: `"a" (2 objects), "b" (1 object)`; "" if there are none.
func othersThan(others map[string]int, mine string) string {
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(others)) {
		n := others[v]
		if v == mine || n <= 0 {
			continue
		}
		unit := "objects"
		if n == 1 {
			unit = "object"
		}
		parts = append(parts, fmt.Sprintf("%s=%q: %d %s", LabelCluster, v, n, unit))
	}
	return strings.Join(parts, ", ")
}

// oneLine joins the lines of err (errors.Join separates by newlines): a
// condition message is one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// PropertyClusterUID is the ClusterProfile status property in which the hub
// records the Identity it first proved for the profile's cluster (written
// by server-side apply under the hub's field manager, beside its condition).
// Credentials that later reach another cluster are refused: for an apinet
// peer this is the only record of which cluster it is, since the members'
// owner records live in the peer itself. Removing the property accepts the
// cluster the credentials reach now.
const PropertyClusterUID = "apinet-hub.ironcore.dev/cluster-uid"

// PropertyMappedObjects is the ClusterProfile status property in which the
// hub reports how many apinet objects it maps for an engaged member (all
// kinds), refreshed while the member is engaged and kept as the last count
// while it is not: `apinet-hub status` reads it without reaching the member.
const PropertyMappedObjects = "apinet-hub.ironcore.dev/mapped-objects"

// Property returns the value of a profile's status property ("" if none).
func Property(cp *clusterinventoryv1alpha1.ClusterProfile, name string) string {
	for _, p := range cp.Status.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// PinnedIdentity returns the Identity recorded on a profile ("" if none).
func PinnedIdentity(cp *clusterinventoryv1alpha1.ClusterProfile) Identity {
	return Identity(Property(cp, PropertyClusterUID))
}

// CheckPinned refuses credentials that reach another cluster than the one
// recorded on the profile.
func CheckPinned(pinned, reached Identity) *Problem {
	if pinned == "" || pinned == reached {
		return nil
	}
	return problemf(ReasonIdentityMismatch, "the credentials of this profile reach cluster %s, but the hub first engaged it with cluster %s (UIDs of their kube-system namespaces; status property %s). Nothing is written or deleted for it; check the credentials, or, if the cluster was replaced on purpose, remove the property",
		reached, pinned, PropertyClusterUID)
}
