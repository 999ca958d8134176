package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apinetv1alpha1 "github.com/ironcore-dev/ironcore-net/api/core/v1alpha1"
	networkingv1alpha1 "github.com/ironcore-dev/ironcore/api/networking/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/apinet-hub/apinet-hub/clusterprofiles"
	"github.com/apinet-hub/apinet-hub/reconcilers"
)

// checker is the one invariant check every case ends with. For each member
// it compares the IronCore objects of the workload namespace (Networks,
// VirtualIPs) with the apinet objects of the member's namespace in its peer
// (Networks, IPs):
//
//  1. mapped: every live IronCore object (no deletionTimestamp) carries the
//     hub's finalizer and has its apinet object, named by its UID and
//     labelled for the member; a Network is Available and its providerID
//     names that apinet Network (VNI and UID); a VirtualIP reports the
//     apinet IP's address as status.ip;
//  2. no orphans: every apinet object there stems (origin UID label, and
//     its name) from a live IronCore object;
//  3. nothing stuck: no IronCore object is still deleting (the hub holds it
//     with its finalizer until the apinet object is gone);
//  4. no needless recreation: an apinet object whose source lives was never
//     replaced; the checker remembers every UID it has seen under a name
//     (check, observe), so a replacement between two looks is caught;
//  5. the member's profile reports Engaged.
//
// 1–3 and 5 hold only once the hub has caught up: use converge. One checker
// should live as long as the objects it watches, so that 4 spans all cases.
type checker struct {
	members []member

	mu sync.Mutex
	// seen holds, per apinet object ("<member>/<kind>/<name>"), every UID
	// observed under that name, in order.
	seen map[string][]types.UID
}

func newChecker(members ...member) *checker {
	return &checker{members: members, seen: map[string][]types.UID{}}
}

// converge checks until no invariant is violated or timeout passes, and
// returns how long that took and the violations of the last check.
func (c *checker) converge(ctx context.Context, timeout time.Duration) (time.Duration, []string) {
	start := time.Now()
	for {
		violations := c.check(ctx)
		if len(violations) == 0 || time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), violations
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sample observes the apinet objects every interval until ctx ends, so
// that a replacement is noticed even if the object is gone again later.
func (c *checker) sample(ctx context.Context, interval time.Duration) {
	for {
		c.observe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// observe records the UIDs of the apinet objects now; unreachable peers are
// skipped (faults make them so).
func (c *checker) observe(ctx context.Context) {
	for _, m := range c.members {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nets, ips, err := apinetObjects(ctx, m)
		cancel()
		if err == nil {
			c.record(m, nets, ips)
		}
	}
}

func apinetObjects(ctx context.Context, m member) (*apinetv1alpha1.NetworkList, *apinetv1alpha1.IPList, error) {
	nets, ips := &apinetv1alpha1.NetworkList{}, &apinetv1alpha1.IPList{}
	if err := m.peer.Client().List(ctx, nets, client.InNamespace(m.apinetNamespace)); err != nil {
		return nil, nil, fmt.Errorf("list apinet Networks in %s/%s: %w", m.peer.Name, m.apinetNamespace, err)
	}
	if err := m.peer.Client().List(ctx, ips, client.InNamespace(m.apinetNamespace)); err != nil {
		return nil, nil, fmt.Errorf("list apinet IPs in %s/%s: %w", m.peer.Name, m.apinetNamespace, err)
	}
	return nets, ips, nil
}

func seenKey(m member, kind, name string) string { return m.name() + "/" + kind + "/" + name }

func (c *checker) record(m member, nets *apinetv1alpha1.NetworkList, ips *apinetv1alpha1.IPList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	add := func(key string, uid types.UID) {
		if !slices.Contains(c.seen[key], uid) {
			c.seen[key] = append(c.seen[key], uid)
		}
	}
	for _, an := range nets.Items {
		add(seenKey(m, "Network", an.Name), an.UID)
	}
	for _, ip := range ips.Items {
		add(seenKey(m, "IP", ip.Name), ip.UID)
	}
}

// check returns every invariant violated right now, one sentence each.
func (c *checker) check(ctx context.Context) []string {
	var violations []string
	for _, m := range c.members {
		violations = append(violations, c.checkMember(ctx, m)...)
	}
	return violations
}

func (c *checker) checkMember(ctx context.Context, m member) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var v []string
	add := func(format string, args ...any) { v = append(v, m.name()+": "+fmt.Sprintf(format, args...)) }

	if reason := engagedReason(ctx, m.name()); reason != clusterprofiles.ReasonEngaged {
		add("profile %s/%s is not Engaged (reason %q)", profileNamespace, m.name(), reason)
	}
	networks, vips := &networkingv1alpha1.NetworkList{}, &networkingv1alpha1.VirtualIPList{}
	if err := m.cluster.Client().List(ctx, networks, client.InNamespace(workloadNamespace)); err != nil {
		add("list Networks: %v", err)
		return v
	}
	if err := m.cluster.Client().List(ctx, vips, client.InNamespace(workloadNamespace)); err != nil {
		add("list VirtualIPs: %v", err)
		return v
	}
	anNets, anIPs, err := apinetObjects(ctx, m)
	if err != nil {
		add("%v", err)
		return v
	}
	c.record(m, anNets, anIPs)

	// 3: nothing stuck deleting; collect the live sources.
	liveNets := map[types.UID]*networkingv1alpha1.Network{}
	for i := range networks.Items {
		nw := &networks.Items[i]
		if nw.DeletionTimestamp != nil {
			add("Network %s/%s is still deleting (since %s, finalizers %v)", nw.Namespace, nw.Name, nw.DeletionTimestamp.Format(time.TimeOnly), nw.Finalizers)
			continue
		}
		liveNets[nw.UID] = nw
	}
	liveVIPs := map[types.UID]*networkingv1alpha1.VirtualIP{}
	for i := range vips.Items {
		vip := &vips.Items[i]
		if vip.DeletionTimestamp != nil {
			add("VirtualIP %s/%s is still deleting (since %s, finalizers %v)", vip.Namespace, vip.Name, vip.DeletionTimestamp.Format(time.TimeOnly), vip.Finalizers)
			continue
		}
		liveVIPs[vip.UID] = vip
	}

	// 1: every live source is mapped.
	anNetByName := map[string]*apinetv1alpha1.Network{}
	for i := range anNets.Items {
		anNetByName[anNets.Items[i].Name] = &anNets.Items[i]
	}
	anIPByName := map[string]*apinetv1alpha1.IP{}
	for i := range anIPs.Items {
		anIPByName[anIPs.Items[i].Name] = &anIPs.Items[i]
	}
	for _, nw := range liveNets {
		what := fmt.Sprintf("Network %s/%s (uid %s)", nw.Namespace, nw.Name, nw.UID)
		if !controllerutil.ContainsFinalizer(nw, reconcilers.FinalizerNetwork) {
			add("%s lacks finalizer %s", what, reconcilers.FinalizerNetwork)
		}
		an, ok := anNetByName[string(nw.UID)]
		if !ok {
			add("%s is not mapped: no apinet Network %s/%s in %s", what, m.apinetNamespace, nw.UID, m.peer.Name)
			continue
		}
		if got := an.Labels[clusterprofiles.LabelCluster]; got != m.label() {
			add("%s: its apinet Network has %s=%q, want %q (not adopted)", what, clusterprofiles.LabelCluster, got, m.label())
		}
		if nw.Status.State != networkingv1alpha1.NetworkStateAvailable {
			add("%s is %q, not Available", what, nw.Status.State)
		}
		want := reconcilers.NetworkID{Namespace: an.Namespace, Name: an.Name, ID: an.Spec.ID, UID: an.UID}.String()
		if nw.Spec.ProviderID != want {
			add("%s has providerID %q, but its apinet Network is %q", what, nw.Spec.ProviderID, want)
		}
	}
	for _, vip := range liveVIPs {
		what := fmt.Sprintf("VirtualIP %s/%s (uid %s)", vip.Namespace, vip.Name, vip.UID)
		if !controllerutil.ContainsFinalizer(vip, reconcilers.FinalizerVirtualIP) {
			add("%s lacks finalizer %s", what, reconcilers.FinalizerVirtualIP)
		}
		ip, ok := anIPByName[string(vip.UID)]
		if !ok {
			add("%s is not mapped: no apinet IP %s/%s in %s", what, m.apinetNamespace, vip.UID, m.peer.Name)
			continue
		}
		if got := ip.Labels[clusterprofiles.LabelCluster]; got != m.label() {
			add("%s: its apinet IP has %s=%q, want %q (not adopted)", what, clusterprofiles.LabelCluster, got, m.label())
		}
		switch {
		case !ip.Spec.IP.IsValid():
			add("%s: its apinet IP has no address", what)
		case vip.Status.IP == nil:
			add("%s has no status.ip (apinet IP has %s)", what, ip.Spec.IP)
		case vip.Status.IP.Addr != ip.Spec.IP.Addr:
			add("%s reports status.ip %s, but its apinet IP has %s", what, vip.Status.IP, ip.Spec.IP)
		}
	}

	// 2: no orphans; 4: no replacement of an object whose source lives.
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, an := range anNets.Items {
		uid := types.UID(an.Labels[reconcilers.OriginNetwork.UIDLabel()])
		if _, live := liveNets[uid]; !live || an.Name != string(uid) {
			add("apinet Network %s/%s has no live IronCore source (origin uid %q)", an.Namespace, an.Name, uid)
			continue
		}
		if uids := c.seen[seenKey(m, "Network", an.Name)]; len(uids) > 1 {
			add("apinet Network %s/%s was recreated while its source lived: UIDs %v", an.Namespace, an.Name, uids)
		}
	}
	for _, ip := range anIPs.Items {
		if len(ip.OwnerReferences) > 0 {
			continue // an apinet object's own IP (a LoadBalancer's), not a VirtualIP's
		}
		uid := types.UID(ip.Labels[reconcilers.OriginVirtualIP.UIDLabel()])
		if _, live := liveVIPs[uid]; !live || ip.Name != string(uid) {
			add("apinet IP %s/%s has no live IronCore source (origin uid %q)", ip.Namespace, ip.Name, uid)
			continue
		}
		if uids := c.seen[seenKey(m, "IP", ip.Name)]; len(uids) > 1 {
			add("apinet IP %s/%s was recreated while its source lived: UIDs %v", ip.Namespace, ip.Name, uids)
		}
	}
	// Forget the objects that are gone with their sources: names are UIDs,
	// never reused.
	prefix := m.name() + "/"
	for key := range c.seen {
		kind, name, _ := cutKey(key, prefix)
		switch kind {
		case "Network":
			if _, live := liveNets[types.UID(name)]; !live && anNetByName[name] == nil {
				delete(c.seen, key)
			}
		case "IP":
			if _, live := liveVIPs[types.UID(name)]; !live && anIPByName[name] == nil {
				delete(c.seen, key)
			}
		}
	}
	slices.Sort(v)
	return v
}

// cutKey splits a seen key of the member with that prefix into kind and
// name.
func cutKey(key, prefix string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}
