package clusterprofiles

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
)

// Annotations bounding the public IPs of NAT gateways. On an apinet
// profile (a region) they apply to every member mapped into it; on an
// IronCore profile to the member's NAT gateways; min and max on a
// NATGateway to that gateway alone (the NAT reconciler layers them: hub
// flags, peer, member, NATGateway).
const (
	// AnnotationNATMinPublicIPs and AnnotationNATMaxPublicIPs set the
	// default range of public IPs per NAT gateway.
	AnnotationNATMinPublicIPs = natAnnotationPrefix + "min-public-ips"
	AnnotationNATMaxPublicIPs = natAnnotationPrefix + "max-public-ips"
	// AnnotationNATPublicIPsCeiling, on a profile, caps the public IPs of
	// every NAT gateway below it: no lower layer (a member's profile under
	// its peer's, a NATGateway) may ask for more.
	AnnotationNATPublicIPsCeiling = natAnnotationPrefix + "public-ips-ceiling"
)

// PeerSettings are an apinet profile's settings: they apply to every
// member mapped into the peer, live (no member is re-engaged).
type PeerSettings struct {
	// NATAnnotations holds the peer's valid NAT annotations
	// (AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs,
	// AnnotationNATPublicIPsCeiling), nil if there are none.
	NATAnnotations map[string]string
}

// peerNATKeys are the NAT annotations an apinet profile may carry.
var peerNATKeys = []string{AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs, AnnotationNATPublicIPsCeiling}

// ParsePeerSettings reads an apinet profile's settings. Like ParseSettings,
// a bad value fails nothing: a NAT annotation that is not a number from 0
// to 2147483647 keeps the value in force before (from last) for that key;
// a minimum above the maximum, or a default above the profile's own
// ceiling, keeps all of last's NAT values; a nat-* annotation the hub does
// not know is ignored. Each gets a Problem (ReasonAnnotationInvalid) that
// says what stays in force, sorted by annotation key. The result shares no
// memory with cp or last.
func ParsePeerSettings(cp *clusterinventoryv1alpha1.ClusterProfile, last PeerSettings) (PeerSettings, []*Problem) {
	bad := map[string]*Problem{}
	nat := map[string]string{}
	values := map[string]int64{}
	for _, key := range peerNATKeys {
		v, set := cp.Annotations[key]
		if !set {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			nat[key], values[key] = v, n
			continue
		}
		msg := fmt.Sprintf("annotation %s=%q is not a number from 0 to 2147483647; ", key, v)
		if old, ok := last.NATAnnotations[key]; ok {
			nat[key] = old
			values[key], _ = strconv.ParseInt(old, 10, 32)
			msg += fmt.Sprintf("%s, its value before, stays in force", old)
		} else {
			msg += "the value of the hub's flags (or none) stays in force"
		}
		bad[key] = &Problem{Reason: ReasonAnnotationInvalid, Message: msg}
	}
	if clash := natClash(values); clash != "" {
		nat = maps.Clone(last.NATAnnotations)
		bad[AnnotationNATMinPublicIPs] = problemf(ReasonAnnotationInvalid, "annotation %s: %s; the NAT values before (%s) stay in force",
			AnnotationNATMinPublicIPs, clash, describeNAT(last.NATAnnotations))
	}
	for k := range cp.Annotations {
		if strings.HasPrefix(k, natAnnotationPrefix) && !slices.Contains(peerNATKeys, k) {
			bad[k] = problemf(ReasonAnnotationInvalid, "annotation %s is not a NAT setting the hub knows (%s); it stays ignored", k, strings.Join(peerNATKeys, ", "))
		}
	}
	s := PeerSettings{}
	if len(nat) > 0 {
		s.NATAnnotations = nat
	}
	var problems []*Problem
	for _, k := range slices.Sorted(maps.Keys(bad)) {
		problems = append(problems, bad[k])
	}
	return s, problems
}

// natClash says what contradicts itself in one profile's NAT values: a
// minimum above the maximum, or a default above the ceiling ("" if none).
func natClash(values map[string]int64) string {
	lo, loSet := values[AnnotationNATMinPublicIPs]
	hi, hiSet := values[AnnotationNATMaxPublicIPs]
	ceiling, ceilingSet := values[AnnotationNATPublicIPsCeiling]
	switch {
	case loSet && hiSet && lo > hi:
		return fmt.Sprintf("min %d is above max %d public IPs", lo, hi)
	case ceilingSet && loSet && lo > ceiling:
		return fmt.Sprintf("min %d is above the profile's ceiling of %d public IPs", lo, ceiling)
	case ceilingSet && hiSet && hi > ceiling:
		return fmt.Sprintf("max %d is above the profile's ceiling of %d public IPs", hi, ceiling)
	}
	return ""
}

func describeNAT(nat map[string]string) string {
	if len(nat) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(nat))
	for _, k := range slices.Sorted(maps.Keys(nat)) {
		parts = append(parts, strings.TrimPrefix(k, "apinet-hub.ironcore.dev/")+"="+nat[k])
	}
	return strings.Join(parts, ", ")
}

// SharedPeerSettings holds a peer's live settings. One instance per apinet
// profile is shared by every member mapped into it (Peer.Settings), so that
// the provider puts an edit in force for all of them in one store and the
// reconcilers read it from the member they already hold.
type SharedPeerSettings struct {
	settings  atomic.Pointer[PeerSettings]
	mu        sync.Mutex
	listeners map[*func()]struct{}
}

// Load returns the settings in force (none for a nil receiver).
func (s *SharedPeerSettings) Load() PeerSettings {
	if s == nil {
		return PeerSettings{}
	}
	if p := s.settings.Load(); p != nil {
		return *p
	}
	return PeerSettings{}
}

// Store puts new settings in force and, if they differ from the current
// ones, calls every listener (OnChange).
func (s *SharedPeerSettings) Store(p PeerSettings) {
	old := s.settings.Swap(&p)
	if old == nil && reflect.DeepEqual(p, PeerSettings{}) || old != nil && reflect.DeepEqual(*old, p) {
		return
	}
	s.mu.Lock()
	fns := make([]func(), 0, len(s.listeners))
	for fn := range s.listeners {
		fns = append(fns, *fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// OnChange calls fn after every change of the settings, until ctx ends.
// A nil receiver never changes.
func (s *SharedPeerSettings) OnChange(ctx context.Context, fn func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners = map[*func()]struct{}{}
	}
	key := &fn
	s.listeners[key] = struct{}{}
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.listeners, key)
	})
}
