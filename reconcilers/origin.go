package reconcilers

import (
	"context"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// Origin is the kind part of apinetlet's origin metadata, which ties an
// apinet object to the IronCore object it stems from: "network",
// "virtualip", "networkinterface", "loadbalancer", "natgateway",
// "networkpolicy".
type Origin string

// Origins of the six IronCore kinds.
const (
	OriginNetwork          Origin = "network"
	OriginVirtualIP        Origin = "virtualip"
	OriginNetworkInterface Origin = "networkinterface"
	OriginLoadBalancer     Origin = "loadbalancer"
	OriginNATGateway       Origin = "natgateway"
	OriginNetworkPolicy    Origin = "networkpolicy"
)

const originPrefix = "apinetlet.ironcore.dev/"

// UIDLabel carries the IronCore object's UID (label in every layout).
func (o Origin) UIDLabel() string { return originPrefix + string(o) + "-uid" }

// NamespaceLabel carries the IronCore object's namespace (label in every layout).
func (o Origin) NamespaceLabel() string { return originPrefix + string(o) + "-namespace" }

// NameKey carries the IronCore object's name: an annotation in the layout
// the hub writes (apinetlet HEAD; names may exceed 63 characters), a label
// in apinetlet v0.2.4's layout.
func (o Origin) NameKey() string { return originPrefix + string(o) + "-name" }

// Labels returns the origin labels the hub writes for src, plus the
// member's cluster label.
func (o Origin) Labels(m *clusterprofiles.Member, src client.Object) map[string]string {
	l := o.SelectorLabels(src)
	l[clusterprofiles.LabelCluster] = m.Label
	return l
}

// SelectorLabels are the origin labels alone (uid and namespace). They are
// what an apinet LoadBalancer's immutable selector holds, so they must stay
// equal to apinetlet's.
func (o Origin) SelectorLabels(src client.Object) map[string]string {
	return map[string]string{o.UIDLabel(): string(src.GetUID()), o.NamespaceLabel(): src.GetNamespace()}
}

// LayoutLabels are the origin labels of src in the layout of the apinetlet
// the member is to be handed back to (clusterprofiles.Settings.Layout):
// uid and namespace (HEAD), and in apinetlet v0.2.4's layout also the
// name, if it is a valid label value (v0.2.4 cannot map a longer name
// either, so its objects keep HEAD's layout; `apinet-hub offboard
// --release` names them). They are what a new apinet LoadBalancer's
// selector holds.
func (o Origin) LayoutLabels(layout clusterprofiles.HandbackLayout, src client.Object) map[string]string {
	l := o.SelectorLabels(src)
	if layout == clusterprofiles.HandbackV024 && len(validation.IsValidLabelValue(src.GetName())) == 0 {
		l[o.NameKey()] = src.GetName()
	}
	return l
}

// ObjectMeta is the metadata of the apinet object named name that the hub
// writes for src in the member's namespace: the origin labels in the
// member's hand-back layout (LayoutLabels), the member's cluster label, and
// the name annotation (in every layout; apinetlet HEAD reads it).
func (o Origin) ObjectMeta(m *clusterprofiles.Member, src client.Object, name string) metav1.ObjectMeta {
	labels := o.LayoutLabels(m.Settings().Layout(), src)
	labels[clusterprofiles.LabelCluster] = m.Label
	return metav1.ObjectMeta{Namespace: m.Peer.Namespace, Name: name, Labels: labels, Annotations: o.Annotations(src)}
}

// Annotations returns the origin annotations the hub writes for src.
func (o Origin) Annotations(src client.Object) map[string]string {
	return map[string]string{o.NameKey(): src.GetName()}
}

// Of reads the IronCore object an apinet object stems from, in either
// layout (name as annotation, or as label).
func (o Origin) Of(obj client.Object) (types.NamespacedName, bool) {
	ns, ok := obj.GetLabels()[o.NamespaceLabel()]
	if !ok || ns == "" {
		return types.NamespacedName{}, false
	}
	name := obj.GetAnnotations()[o.NameKey()]
	if name == "" {
		name = obj.GetLabels()[o.NameKey()]
	}
	if name == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: ns, Name: name}, true
}

// StemsFrom reports whether obj was written for src (same UID).
func (o Origin) StemsFrom(obj, src client.Object) bool {
	uid, ok := obj.GetLabels()[o.UIDLabel()]
	return ok && types.UID(uid) == src.GetUID()
}

// BelongsTo reports whether a member provably owns an apinet object in its
// namespace, and so may change or delete it: the hub wrote it for this
// member (it carries the member's cluster label), or it carries no cluster
// label and the namespace was claimed by an explicit take-over
// (Member.AdoptsUnlabelled: apinetlet's objects, adopted). Objects labelled
// for another member, and unlabelled objects in a namespace that was not
// taken over, are never touched.
func BelongsTo(m *clusterprofiles.Member, obj client.Object) bool {
	return ownedBy(m.Label, m.AdoptsUnlabelled(), obj)
}

// ownedBy is BelongsTo for the member whose cluster label is memberLabel.
func ownedBy(memberLabel string, adoptsUnlabelled bool, obj client.Object) bool {
	label, ok := obj.GetLabels()[clusterprofiles.LabelCluster]
	if !ok {
		return adoptsUnlabelled
	}
	return label == memberLabel
}

// MapToOrigin maps an apinet object of a member's peer back to the IronCore
// object it stems from (for clusterprofiles.PeerKind).
func MapToOrigin[T client.Object](o Origin) func(context.Context, *clusterprofiles.Member, T) []reconcile.Request {
	return func(_ context.Context, m *clusterprofiles.Member, obj T) []reconcile.Request {
		if !BelongsTo(m, obj) {
			return nil
		}
		key, ok := o.Of(obj)
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: key}}
	}
}

// setOrigin writes the origin metadata of src (and the member's cluster
// label) into an apinet object the hub did not create (a claimed NIC),
// migrating apinetlet v0.2.4's name label to the annotation.
func setOrigin(obj client.Object, m *clusterprofiles.Member, o Origin, src client.Object) {
	labels, annotations := obj.GetLabels(), obj.GetAnnotations()
	if labels == nil {
		labels = map[string]string{}
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	for k, v := range o.Labels(m, src) {
		labels[k] = v
	}
	delete(labels, o.NameKey()) // v0.2.4 layout: the name moves to an annotation
	for k, v := range o.Annotations(src) {
		annotations[k] = v
	}
	obj.SetLabels(labels)
	obj.SetAnnotations(annotations)
}

// dropOrigin removes the NIC origin metadata and cluster label from an
// apinet NIC the hub releases.
func dropOrigin(an *apinetv1alpha1.NetworkInterface) {
	o := OriginNetworkInterface
	for _, k := range []string{o.UIDLabel(), o.NamespaceLabel(), o.NameKey(), clusterprofiles.LabelCluster} {
		delete(an.Labels, k)
	}
	delete(an.Annotations, o.NameKey())
}
