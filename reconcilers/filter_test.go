package reconcilers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		name        string
		filter      string
		labels      map[string]string
		annotations map[string]string
		want        bool
	}{
		{name: "no filter", want: true},
		{name: "filter matches", filter: "a", labels: map[string]string{LabelWatchFilter: "a"}, want: true},
		{name: "filter differs", filter: "a", labels: map[string]string{LabelWatchFilter: "b"}},
		{name: "filter set, label missing", filter: "a"},
		{name: "managed externally", annotations: map[string]string{AnnotationManagedBy: "someone"}},
		{name: "managed externally, empty value", annotations: map[string]string{AnnotationManagedBy: ""}},
	} {
		obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels, Annotations: tc.annotations}}
		if got := Selected(tc.filter, obj); got != tc.want {
			t.Errorf("%s: Selected = %v, want %v", tc.name, got, tc.want)
		}
	}
}
