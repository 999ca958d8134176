package lifecycle

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

func TestServiceAccountProfiles(t *testing.T) {
	secret := func(profile string, annotations map[string]string) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{clusterprofiles.LabelSecretProfile: profile}, Annotations: annotations}}
	}
	sa := map[string]string{AnnotationServiceAccount: "apinet-hub/apinet-hub"}
	for _, tc := range []struct {
		name    string
		secrets []metav1.PartialObjectMetadata
		want    map[string]bool
	}{
		{"no Secrets", nil, map[string]bool{}},
		{"a token onboard made", []metav1.PartialObjectMetadata{secret("a", sa)}, map[string]bool{"a": true}},
		{"your own credentials", []metav1.PartialObjectMetadata{secret("a", nil), secret("b", map[string]string{"other": "x"})}, map[string]bool{}},
		{"an empty annotation", []metav1.PartialObjectMetadata{secret("a", map[string]string{AnnotationServiceAccount: ""})}, map[string]bool{}},
		{"mixed", []metav1.PartialObjectMetadata{secret("a", nil), secret("b", sa)}, map[string]bool{"b": true}},
	} {
		if got := ServiceAccountProfiles(tc.secrets); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ServiceAccountProfiles() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
