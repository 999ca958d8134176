package clusterprofiles

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// Per-profile scope: the part of an IronCore cluster one member covers, so
// that several profiles (several apinet namespaces, as several apinetlets
// with --watch-filter had) can share one cluster.
const (
	// AnnotationWatchFilter, on an IronCore profile, restricts the member
	// to IronCore objects labelled common.ironcore.dev/watch-filter=<value>
	// (apinetlet's --watch-filter), selected server-side by its caches.
	AnnotationWatchFilter = "apinet-hub.ironcore.dev/watch-filter"
	// AnnotationIronCoreNamespaces, on an IronCore profile, restricts the
	// member to these IronCore namespaces (comma-separated), cached
	// server-side per namespace.
	AnnotationIronCoreNamespaces = "apinet-hub.ironcore.dev/ironcore-namespaces"
	// ReasonScopeInvalid: the scope annotations are malformed, or widen
	// the hub's own --watch-filter.
	ReasonScopeInvalid = "ScopeInvalid"
)

// LabelWatchFilter is IronCore's label that a watch filter selects on.
const LabelWatchFilter = "common.ironcore.dev/watch-filter"

// Scope is the part of an IronCore cluster a member covers. The zero value
// is the whole cluster.
type Scope struct {
	// WatchFilter selects objects by LabelWatchFilter ("": any).
	WatchFilter string
	// Namespaces, sorted and unique, restrict the member to them (nil:
	// every namespace).
	Namespaces []string
}

// parseScope reads a profile's scope annotations.
func parseScope(cp *clusterinventoryv1alpha1.ClusterProfile) (Scope, *Problem) {
	var s Scope
	if v, ok := cp.Annotations[AnnotationWatchFilter]; ok {
		errs := validation.IsValidLabelValue(v)
		if v == "" {
			errs = append(errs, "must not be empty")
		}
		if len(errs) > 0 {
			return Scope{}, problemf(ReasonScopeInvalid, "annotation %s=%q is not a label value of %s: %s",
				AnnotationWatchFilter, v, LabelWatchFilter, strings.Join(errs, "; "))
		}
		s.WatchFilter = v
	}
	if v, ok := cp.Annotations[AnnotationIronCoreNamespaces]; ok {
		for n := range strings.SplitSeq(v, ",") {
			n = strings.TrimSpace(n)
			if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
				return Scope{}, problemf(ReasonScopeInvalid, "annotation %s=%q: %q is not a namespace name: %s",
					AnnotationIronCoreNamespaces, v, n, strings.Join(errs, "; "))
			}
			s.Namespaces = append(s.Namespaces, n)
		}
		slices.Sort(s.Namespaces)
		s.Namespaces = slices.Compact(s.Namespaces)
	}
	return s, nil
}

// Whole tells whether the scope is the whole cluster.
func (s Scope) Whole() bool {
	return s.WatchFilter == "" && s.Namespaces == nil
}

// Overlaps tells whether an IronCore object could be in both scopes: unless
// both select different watch-filter values or disjoint namespaces, they
// share objects, and one cluster's objects have one writer.
func (s Scope) Overlaps(o Scope) bool {
	if s.WatchFilter != "" && o.WatchFilter != "" && s.WatchFilter != o.WatchFilter {
		return false
	}
	if s.Namespaces != nil && o.Namespaces != nil {
		for _, n := range s.Namespaces {
			if _, found := slices.BinarySearch(o.Namespaces, n); found {
				return true
			}
		}
		return false
	}
	return true
}

// Within applies the hub's own --watch-filter: a profile may narrow what the
// hub covers, never widen it. With a hub filter, the scope's is that filter
// (a profile naming another value is refused: an object carries one value).
func (s Scope) Within(hubFilter string) (Scope, *Problem) {
	switch {
	case hubFilter == "":
	case s.WatchFilter == "":
		s.WatchFilter = hubFilter
	case s.WatchFilter != hubFilter:
		return s, problemf(ReasonScopeInvalid, "annotation %s=%q differs from the hub's --watch-filter %q: a profile may narrow what the hub covers, not select objects outside it",
			AnnotationWatchFilter, s.WatchFilter, hubFilter)
	}
	return s, nil
}

// Selects tells whether an IronCore object with these labels, in this
// namespace, is in the scope.
func (s Scope) Selects(namespace string, labels map[string]string) bool {
	if s.WatchFilter != "" && labels[LabelWatchFilter] != s.WatchFilter {
		return false
	}
	if s.Namespaces != nil {
		_, found := slices.BinarySearch(s.Namespaces, namespace)
		return found
	}
	return true
}

// String describes the scope for messages: "the whole cluster",
// "watch-filter blue, namespaces a, b".
func (s Scope) String() string {
	if s.Whole() {
		return "the whole cluster"
	}
	var parts []string
	if s.WatchFilter != "" {
		parts = append(parts, "watch-filter "+s.WatchFilter)
	}
	if s.Namespaces != nil {
		parts = append(parts, "namespaces "+strings.Join(s.Namespaces, ", "))
	}
	return strings.Join(parts, "; ")
}

// Key is a comparable form of the scope.
func (s Scope) Key() string {
	return fmt.Sprintf("%s|%s", s.WatchFilter, strings.Join(s.Namespaces, ","))
}
