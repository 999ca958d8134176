package reconcilers

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Labels and annotations of ironcore's common API that select what the hub
// reconciles, as apinetlet honours them.
const (
	LabelWatchFilter        = "common.ironcore.dev/watch-filter"
	AnnotationManagedBy     = "common.ironcore.dev/managed-by"
	DefaultEventActionApply = "Apply"
)

// Selected reports whether an IronCore object is the hub's to reconcile:
// it matches the watch filter (when one is set) and is not managed
// externally.
func Selected(watchFilter string, obj client.Object) bool {
	if watchFilter != "" && obj.GetLabels()[LabelWatchFilter] != watchFilter {
		return false
	}
	_, external := obj.GetAnnotations()[AnnotationManagedBy]
	return !external
}

// SelectedPredicate filters the events of the reconciled IronCore kinds.
func SelectedPredicate(watchFilter string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return Selected(watchFilter, o) })
}
