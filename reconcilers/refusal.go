package reconcilers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// AnnotationImmutableRefused, on an apinet object, records the changes of
// its IronCore object that apinet cannot apply in place (fields immutable
// in apinet, mutable in IronCore): the hub keeps the apinet object's value
// of such a field, writes the rest of the change, and reports the refusal
// (ReasonImmutableFieldChanged) when it differs from the recorded one.
const AnnotationImmutableRefused = "apinet-hub.ironcore.dev/immutable-refused"

// ReasonImmutableFieldChanged is the Warning Event on an IronCore object
// whose change apinet cannot apply in place.
const ReasonImmutableFieldChanged = "ImmutableFieldChanged"

// immutableChange is one field of an apinet object that its IronCore object
// asks to change and apinet does not allow to: the field's path, the value
// in force and the value asked for.
type immutableChange struct{ Field, Have, Want string }

// immutableRefusal is the text that records changes (sorted by field, ""
// for none): what AnnotationImmutableRefused holds and the Event says.
func immutableRefusal(changes []immutableChange) string {
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%s is %s in apinet, asked %s", c.Field, c.Have, c.Want))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// refusal is a change the hub declines to write for an IronCore object,
// recorded in an annotation of the apinet object it applies, so that it is
// reported once per change, across reconciles and hub restarts, and not
// retried.
type refusal struct {
	// annotation on the apinet object that records the refusal.
	annotation string
	// reason of the Warning Event on the IronCore object.
	reason string
	// text of the refusal; "" when nothing is refused.
	text string
}

// record sets (or, with nothing refused, drops) the refusal's annotation on
// the apinet object about to be applied.
func (f refusal) record(desired client.Object) {
	annotations := desired.GetAnnotations()
	if f.text == "" {
		delete(annotations, f.annotation)
		return
	}
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[f.annotation] = f.text
	desired.SetAnnotations(annotations)
}

// news reports whether the refusal is to be reported: something is refused
// and the apinet object key (cached: as the peer's cache has it, nil if
// not there) records something else. The cache may lag behind this
// reconciler's last write, or not have the object yet, so what it does not
// confirm is read live (into live, an empty object of the apinet kind): two
// reconciles in a row report a refusal once.
func (f refusal) news(ctx context.Context, m *clusterprofiles.Member, key client.ObjectKey, cached, live client.Object) bool {
	switch {
	case f.text == "":
		return false
	case cached != nil && cached.GetAnnotations()[f.annotation] == f.text:
		return false
	}
	if err := m.Peer.GetAPIReader().Get(ctx, key, live); err == nil {
		return live.GetAnnotations()[f.annotation] != f.text
	}
	return true
}

// report emits the refusal's Warning Event on the IronCore object, with
// what stays in force.
func (f refusal) report(m *clusterprofiles.Member, obj client.Object, inForce string) {
	recorder(m).Eventf(obj, nil, corev1.EventTypeWarning, f.reason, DefaultEventActionApply, "%s; %s", f.text, inForce)
}
