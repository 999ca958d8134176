package providers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	toolscache "k8s.io/client-go/tools/cache"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
)

// watchOwner watches the owner record on the member's apinet namespace for
// as long as the peer view runs. The record is proven once, when the member
// is engaged; if it changes afterwards (another profile takes the namespace
// over, someone edits or removes the record, the namespace is deleted), the
// member no longer provably owns what it writes there, and is disengaged at
// once (ownerLost). What the cache shows is confirmed with a live read first,
// so that a cache still showing the namespace before the hub's own claim
// does not count.
func (p *Provider) watchOwner(ctx context.Context, j *job, peerCl cluster.Cluster, peer client.Client, me clusterprofiles.Owner) error {
	ns := j.profile.APINetNamespace
	informer, err := peerCl.GetCache().GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return fmt.Errorf("watch the owner record: %w", err)
	}
	// The peer's shared cache holds every namespace: only this one's
	// events concern the member.
	mine := func(obj any) (*corev1.Namespace, bool) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		n, ok := obj.(*corev1.Namespace)
		return n, ok && n.Name == ns
	}
	check := func(obj any) {
		n, ok := mine(obj)
		if !ok {
			return
		}
		if owner, claimed, err := clusterprofiles.OwnerOf(n.Annotations); err == nil && claimed && owner.Cluster == me.Cluster && owner.Profile == me.Profile {
			return
		}
		go p.confirmOwnerLost(j, peerCl, peer, me)
	}
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    check,
		UpdateFunc: func(_, obj any) { check(obj) },
		DeleteFunc: func(obj any) {
			if _, ok := mine(obj); ok {
				go p.confirmOwnerLost(j, peerCl, peer, me)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch the owner record: %w", err)
	}
	// The handler goes with the engagement (the job's context), not with
	// the shared cache.
	context.AfterFunc(j.ctx, func() { _ = informer.RemoveEventHandler(reg) })
	return nil
}

// confirmOwnerLost reads the namespace live and, if it is gone or its owner
// record is no longer me, disengages the member.
func (p *Provider) confirmOwnerLost(j *job, peerCl cluster.Cluster, peer client.Client, me clusterprofiles.Owner) {
	ns := j.profile.APINetNamespace
	ctx, cancel := context.WithTimeout(j.ctx, p.opts.RequestTimeout)
	defer cancel()
	live := &corev1.Namespace{}
	var now string
	switch err := peer.Get(ctx, client.ObjectKey{Name: ns}, live); {
	case apierrors.IsNotFound(err):
		now = "the namespace was deleted"
	case err != nil:
		if j.ctx.Err() == nil {
			// Unconfirmed: the next change of the namespace, or the next
			// engagement, checks again.
			p.log.Info("cannot confirm a change of the owner record", "cluster", j.profile.Name, "namespace", ns, "error", err.Error())
		}
		return
	default:
		owner, claimed, err := clusterprofiles.OwnerOf(live.Annotations)
		switch {
		case err != nil:
			now = "it is malformed now: " + err.Error()
		case !claimed:
			now = "it was removed"
		case owner.Cluster == me.Cluster && owner.Profile == me.Profile:
			return
		default:
			now = fmt.Sprintf("it names cluster %s, profile %s now", owner.Cluster, owner.Profile)
		}
	}
	p.ownerLost(j, peerCl, &clusterprofiles.Problem{Reason: clusterprofiles.ReasonNamespaceNotOwned, Message: fmt.Sprintf(
		"the owner record of namespace %s in peer %s changed after the member was engaged (%s): the member was disengaged at once and writes nothing there; the next engagement checks the claim again",
		ns, clusterprofiles.ClusterName(j.profile.Peer), now)})
}

// ownerLost disengages the member engaged with peerCl, if it still is, and
// holds its next engagement for the retry backoff.
func (p *Provider) ownerLost(j *job, peerCl cluster.Cluster, problem *clusterprofiles.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := j.rec
	if p.records[rec.key] != rec || rec.eng.member == nil || rec.eng.member.Peer.Cluster != peerCl {
		return // not engaged with this view (any more)
	}
	key := rec.eng.key
	p.log.Info("owner record of the apinet namespace changed: disengaging", "cluster", j.profile.Name, "message", problem.Message)
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	cp.Namespace, cp.Name = rec.key.Namespace, rec.key.Name
	p.recorder.Eventf(cp, nil, corev1.EventTypeWarning, problem.Reason, "Disengage", "%s", problem.Message)
	p.disengageLocked(rec)
	delay := rec.eng.backoff.Step()
	rec.eng.failure, rec.eng.failedFor, rec.eng.retryAt = problem, key, time.Now().Add(delay)
	p.wakeUp(rec.key)
}
