package reconcilers

import (
	"context"
	"fmt"
	"testing"
	"time"

	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"
)

// A member's initial list (its backlog when it is engaged) must not delay
// other members' fresh objects: the kind's own watch puts it into the
// controller's priority queue at low priority.
func TestOwnWatchQueuesAnInitialListBehindFreshEvents(t *testing.T) {
	q := priorityqueue.New[mcreconcile.Request]("test")
	defer q.ShutDown()
	ctx := context.Background()
	network := func(name string) *networkingv1alpha1.Network {
		return &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	}
	newcomer := mapInMember(itself)("fleet/ironcore-new", nil)
	busy := mapInMember(itself)("fleet/ironcore-busy", nil)
	for _, name := range []string{"backlog-1", "backlog-2"} {
		newcomer.Create(ctx, event.TypedCreateEvent[client.Object]{Object: network(name), IsInInitialList: true}, q)
	}
	busy.Create(ctx, event.TypedCreateEvent[client.Object]{Object: network("fresh")}, q)

	want := []mcreconcile.Request{
		{ClusterName: "fleet/ironcore-busy", Request: reqFor("default", "fresh")},
		{ClusterName: "fleet/ironcore-new", Request: reqFor("default", "backlog-1")},
		{ClusterName: "fleet/ironcore-new", Request: reqFor("default", "backlog-2")},
	}
	got := map[mcreconcile.Request]bool{}
	for i := range want {
		item, _ := q.Get()
		if i == 0 && item != want[0] {
			t.Fatalf("first request = %v, want the busy member's fresh object %v", item, want[0])
		}
		got[item] = true
		q.Done(item)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("request %v was not queued (got %v)", w, got)
		}
	}
}

func reqFor(namespace, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}

// TestFairQueueServesAQuietMemberBetweenANoisyMembersBurst: the queue every
// controller gets (fairQueue) takes a quiet member's fresh event out after at
// most Share requests of a member that queued a burst of 1000 at the same
// priority (controller-runtime's queue alone would hand out all 1000 first),
// through the same handler the controllers use.
func TestFairQueueServesAQuietMemberBetweenANoisyMembersBurst(t *testing.T) {
	q := fairQueue(Fairness{Share: 2}, 8)("test-fair", workqueue.DefaultTypedControllerRateLimiter[mcreconcile.Request]())
	defer q.ShutDown()
	ctx := context.Background()
	noisy := mapInMember(itself)("fleet/ironcore-noisy", nil)
	quiet := mapInMember(itself)("fleet/ironcore-quiet", nil)
	for i := range 1000 {
		noisy.Create(ctx, event.TypedCreateEvent[client.Object]{Object: &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprint("burst-", i)}}}, q)
	}
	quiet.Create(ctx, event.TypedCreateEvent[client.Object]{Object: &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fresh"}}}, q)
	for n := 1; n <= 1001; n++ {
		item, _ := q.Get()
		q.Done(item)
		if item.ClusterName == "fleet/ironcore-quiet" {
			if n > 3 {
				t.Fatalf("the quiet member's fresh event came out at position %d, want within 1 + Share", n)
			}
			return
		}
	}
	t.Fatal("the quiet member's event never came out")
}

func TestUnmappedFor(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	grace := 2 * time.Minute
	object := func(age time.Duration, labels map[string]string, deleting bool) client.Object {
		nw := &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: metav1.NewTime(now.Add(-age)), Labels: labels}}
		if deleting {
			nw.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return nw
	}
	mapped := func(m bool) func(client.Object) bool { return func(client.Object) bool { return m } }
	for _, tc := range []struct {
		name   string
		obj    client.Object
		mapped bool
		filter string
		want   bool
	}{
		{"old and not mapped", object(3*time.Minute, nil, false), false, "", true},
		{"old and mapped", object(3*time.Minute, nil, false), true, "", false},
		{"within the grace period", object(time.Minute, nil, false), false, "", false},
		{"being deleted", object(time.Hour, nil, true), false, "", false},
		{"not the hub's (watch filter)", object(time.Hour, nil, false), false, "blue", false},
		{"the hub's (watch filter)", object(time.Hour, map[string]string{"common.ironcore.dev/watch-filter": "blue"}, false), false, "blue", true},
	} {
		if got := unmappedFor(tc.obj, mapped(tc.mapped), tc.filter, now, grace); got != tc.want {
			t.Errorf("%s: unmappedFor = %v, want %v", tc.name, got, tc.want)
		}
	}
}
