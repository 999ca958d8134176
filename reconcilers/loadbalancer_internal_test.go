package reconcilers

import (
	"reflect"
	"testing"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLoadBalancerTemplateAnnotations(t *testing.T) {
	lb := &networkingv1alpha1.LoadBalancer{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u-1"}}
	o := OriginLoadBalancer
	legacy := map[string]string{o.UIDLabel(): "u-1", o.NamespaceLabel(): "default", o.NameKey(): "web"}
	for _, tc := range []struct {
		name     string
		selector map[string]string
		want     map[string]string
	}{
		{"the hub's own (HEAD layout): the name as annotation", o.SelectorLabels(lb), map[string]string{o.NameKey(): "web"}},
		{"apinetlet v0.2.4's: none, the template stays as it was", legacy, nil},
	} {
		if got := loadBalancerTemplateAnnotations(lb, tc.selector); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
