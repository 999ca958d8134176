package clusterprofiles

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParsePeerSettings(t *testing.T) {
	lo, hi, ceil := AnnotationNATMinPublicIPs, AnnotationNATMaxPublicIPs, AnnotationNATPublicIPsCeiling
	a := func(kv ...string) map[string]string {
		out := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	last := PeerSettings{NATAnnotations: a(lo, "1", hi, "4", ceil, "8")}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		last        PeerSettings
		want        PeerSettings
		// wantProblems are the annotation keys of the problems, in order;
		// wantStays is a word each problem's message must hold.
		wantProblems []string
		wantStays    string
	}{
		{name: "none", annotations: a("other.io/x", "y"), want: PeerSettings{}},
		{name: "none drops what was in force", annotations: a(), last: last, want: PeerSettings{}},
		{name: "all valid", annotations: a(lo, "0", hi, "6", ceil, "6", AnnotationTakeOver, "true"), want: PeerSettings{NATAnnotations: a(lo, "0", hi, "6", ceil, "6")}},
		{name: "ceiling alone", annotations: a(ceil, "2"), want: PeerSettings{NATAnnotations: a(ceil, "2")}},
		{name: "largest", annotations: a(ceil, "2147483647"), want: PeerSettings{NATAnnotations: a(ceil, "2147483647")}},
		{
			name: "not a number keeps the value before", annotations: a(ceil, "lots", hi, "3"), last: last,
			want: PeerSettings{NATAnnotations: a(ceil, "8", hi, "3")}, wantProblems: []string{ceil}, wantStays: "8, its value before",
		},
		{
			name: "negative without a value before", annotations: a(hi, "-1"),
			want: PeerSettings{}, wantProblems: []string{hi}, wantStays: "hub's flags",
		},
		{
			name: "beyond int32", annotations: a(lo, "2147483648"),
			want: PeerSettings{}, wantProblems: []string{lo}, wantStays: "stays",
		},
		{
			name: "min above max keeps all values before", annotations: a(lo, "5", hi, "2"), last: last,
			want: last, wantProblems: []string{lo}, wantStays: "max-public-ips=4",
		},
		{
			name: "max above the own ceiling", annotations: a(hi, "9", ceil, "8"), last: last,
			want: last, wantProblems: []string{lo}, wantStays: "public-ips-ceiling=8",
		},
		{
			name: "min above the own ceiling, nothing before", annotations: a(lo, "3", ceil, "2"),
			want: PeerSettings{}, wantProblems: []string{lo}, wantStays: "(none)",
		},
		{
			name: "unknown nat annotation", annotations: a(natAnnotationPrefix+"ceiling", "3", ceil, "3"),
			want: PeerSettings{NATAnnotations: a(ceil, "3")}, wantProblems: []string{natAnnotationPrefix + "ceiling"}, wantStays: "ignored",
		},
	} {
		cp := newProfile("fleet", "apinet-1", map[string]string{LabelRole: string(RoleAPINet)}, tc.annotations)
		got, problems := ParsePeerSettings(cp, tc.last)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ParsePeerSettings = %+v, want %+v", tc.name, got, tc.want)
		}
		if len(problems) != len(tc.wantProblems) {
			t.Errorf("%s: problems %v, want about %v", tc.name, problems, tc.wantProblems)
			continue
		}
		for i, p := range problems {
			if p.Reason != ReasonAnnotationInvalid || !strings.HasPrefix(p.Message, "annotation "+tc.wantProblems[i]) || !strings.Contains(p.Message, tc.wantStays) {
				t.Errorf("%s: problem %d = %+v, want about %s saying %q", tc.name, i, p, tc.wantProblems[i], tc.wantStays)
			}
		}
		if tc.last.NATAnnotations != nil && got.NATAnnotations != nil && reflect.ValueOf(got.NATAnnotations).Pointer() == reflect.ValueOf(tc.last.NATAnnotations).Pointer() {
			t.Errorf("%s: the result shares the map of last", tc.name)
		}
	}
}

// FuzzParsePeerSettings feeds arbitrary annotations and NAT settings in
// force to an apinet profile: Parse must accept it; ParsePeerSettings must
// keep only the known NAT keys, each a number 0..MaxInt32, consistent (min
// <= max <= ceiling, min <= ceiling), taking the value asked when valid and
// otherwise last's, with a Problem per bad key, sorted.
func FuzzParsePeerSettings(f *testing.F) {
	f.Add(AnnotationNATMinPublicIPs, "1", AnnotationNATMaxPublicIPs, "4", AnnotationNATPublicIPsCeiling, "8", "2", "5", "9")
	f.Add(AnnotationNATPublicIPsCeiling, "x", AnnotationNATMaxPublicIPs, "9", natAnnotationPrefix+"y", "1", "", "3", "")
	f.Add(AnnotationNATMinPublicIPs, "-1", AnnotationNATMinPublicIPs+"x", "4", "other", "8", "1", "", "1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3, lastMin, lastMax, lastCeiling string) {
		annotations := map[string]string{}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" {
				annotations[kv[0]] = kv[1]
			}
		}
		cp := newProfile("fleet", "apinet-1", map[string]string{LabelRole: string(RoleAPINet)}, annotations)
		if _, problem := Parse(cp); problem != nil {
			t.Fatalf("Parse(%v) = %v: settings must not fail a peer", annotations, problem)
		}
		// last is itself a result of ParsePeerSettings, as in the provider.
		lastCP := newProfile("fleet", "apinet-1", nil, map[string]string{})
		for k, v := range map[string]string{AnnotationNATMinPublicIPs: lastMin, AnnotationNATMaxPublicIPs: lastMax, AnnotationNATPublicIPsCeiling: lastCeiling} {
			if v != "" {
				lastCP.Annotations[k] = v
			}
		}
		last, _ := ParsePeerSettings(lastCP, PeerSettings{})
		got, problems := ParsePeerSettings(cp, last)

		values := map[string]int64{}
		for k, v := range got.NATAnnotations {
			if !slices.Contains(peerNATKeys, k) {
				t.Fatalf("unknown key %s kept", k)
			}
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q kept", k, v)
			}
			values[k] = n
		}
		if clash := natClash(values); clash != "" {
			t.Fatalf("ParsePeerSettings(%v) = %v: %s", annotations, got.NATAnnotations, clash)
		}
		if got.NATAnnotations != nil && len(got.NATAnnotations) == 0 {
			t.Fatal("an empty map rather than nil")
		}
		var wantBad []string
		for k, v := range annotations {
			if !strings.HasPrefix(k, natAnnotationPrefix) {
				continue
			}
			if !slices.Contains(peerNATKeys, k) {
				wantBad = append(wantBad, k)
				continue
			}
			if n, err := strconv.ParseInt(v, 10, 32); err != nil || n < 0 {
				wantBad = append(wantBad, k)
				if gv, ok := got.NATAnnotations[k]; ok && gv != last.NATAnnotations[k] {
					t.Fatalf("bad %s=%q became %q, not the value before %q", k, v, gv, last.NATAnnotations[k])
				}
			}
		}
		if len(problems) < len(wantBad) || len(problems) > len(wantBad)+1 {
			t.Fatalf("ParsePeerSettings(%v) problems %v, want one per bad key %v (and one for a clash)", annotations, problems, wantBad)
		}
		for _, p := range problems {
			if p.Reason != ReasonAnnotationInvalid || !strings.Contains(p.Message, "stay") {
				t.Fatalf("problem %+v does not say what stays", p)
			}
		}
		if len(problems) == 0 {
			want := map[string]string{}
			for _, k := range peerNATKeys {
				if v, ok := annotations[k]; ok {
					want[k] = v
				}
			}
			if !maps.Equal(got.NATAnnotations, want) {
				t.Fatalf("ParsePeerSettings(%v) = %v without problems, want %v", annotations, got.NATAnnotations, want)
			}
		}
	})
}

// TestSharedPeerSettings pins that a store tells the listeners once per
// change, and that a nil cell reads as none.
func TestSharedPeerSettings(t *testing.T) {
	var none *SharedPeerSettings
	if got := none.Load(); !reflect.DeepEqual(got, PeerSettings{}) {
		t.Fatalf("nil Load = %+v", got)
	}
	none.OnChange(context.Background(), func() { t.Fatal("a nil cell called a listener") })

	s := &SharedPeerSettings{}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	s.OnChange(ctx, func() { calls++ })
	s.Store(PeerSettings{})
	s.Store(PeerSettings{NATAnnotations: map[string]string{AnnotationNATPublicIPsCeiling: "3"}})
	s.Store(PeerSettings{NATAnnotations: map[string]string{AnnotationNATPublicIPsCeiling: "3"}})
	if calls != 1 {
		t.Fatalf("%d calls, want 1 (one change)", calls)
	}
	cancel()
	for { // the listener goes once ctx's AfterFunc has run
		s.mu.Lock()
		n := len(s.listeners)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.Store(PeerSettings{})
	if calls != 1 || s.Load().NATAnnotations != nil {
		t.Fatalf("after cancel: %d calls, settings %+v", calls, s.Load())
	}
}
