package providers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// TestDecisionKeeps: a verdict that only waits for a first look leaves an
// Engaged False or Unknown as it is, never an Engaged True (a stopped hub
// process's), and is written where there is no condition yet; any other
// verdict is always written.
func TestDecisionKeeps(t *testing.T) {
	waiting := notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonEngaging, Message: "waiting for the first probe"})
	waiting.settling = true
	decided := notEngaged(&clusterprofiles.Problem{Reason: clusterprofiles.ReasonUnreachable, Message: "refused"})
	condition := func(s metav1.ConditionStatus) *metav1.Condition {
		return &metav1.Condition{Type: clusterprofiles.ConditionEngaged, Status: s}
	}
	for _, tc := range []struct {
		name    string
		d       decision
		current *metav1.Condition
		want    bool
	}{
		{"waiting, no condition yet", waiting, nil, false},
		{"waiting, False", waiting, condition(metav1.ConditionFalse), true},
		{"waiting, Unknown", waiting, condition(metav1.ConditionUnknown), true},
		{"waiting, a stale True", waiting, condition(metav1.ConditionTrue), false},
		{"decided, False", decided, condition(metav1.ConditionFalse), false},
		{"decided, True", decided, condition(metav1.ConditionTrue), false},
	} {
		if got := tc.d.keeps(tc.current); got != tc.want {
			t.Errorf("%s: keeps = %t, want %t", tc.name, got, tc.want)
		}
	}
}
