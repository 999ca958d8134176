package clusterprofiles

import (
	"reflect"
	clusterinventoryv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"strings"
	"testing"
)

func TestOwnerOf(t *testing.T) {
	full := map[string]string{AnnotationOwnerClusterUID: "uid-a", AnnotationOwnerProfile: "fleet/ironcore-1", "other.io/x": "y"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	without := func(keys ...string) map[string]string {
		m := with()
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        Owner
		wantOK      bool
		// wantErr is what the error must hold; "" means no error.
		wantErr string
	}{
		{name: "nil", annotations: nil},
		{name: "no owner annotations", annotations: map[string]string{"other.io/x": "y"}},
		{name: "claimed", annotations: full, want: Owner{Cluster: "uid-a", Profile: "fleet/ironcore-1"}, wantOK: true},
		{name: "taken over", annotations: with(AnnotationTakenOver, "true"), want: Owner{Cluster: "uid-a", Profile: "fleet/ironcore-1", TakenOver: true}, wantOK: true},
		{name: "taken-over false", annotations: with(AnnotationTakenOver, "false"), want: Owner{Cluster: "uid-a", Profile: "fleet/ironcore-1"}, wantOK: true},
		{name: "dotted profile name", annotations: with(AnnotationOwnerProfile, "fleet/ironcore.eu"), want: Owner{Cluster: "uid-a", Profile: "fleet/ironcore.eu"}, wantOK: true},
		{name: "uid only", annotations: without(AnnotationOwnerProfile), wantErr: AnnotationOwnerProfile + " is missing"},
		{name: "profile only", annotations: without(AnnotationOwnerClusterUID), wantErr: AnnotationOwnerClusterUID + " is missing"},
		{name: "taken-over only", annotations: map[string]string{AnnotationTakenOver: "true"}, wantErr: AnnotationOwnerClusterUID + " is missing"},
		{name: "empty uid", annotations: with(AnnotationOwnerClusterUID, ""), wantErr: AnnotationOwnerClusterUID + " is empty"},
		{name: "empty profile", annotations: with(AnnotationOwnerProfile, ""), wantErr: AnnotationOwnerProfile + " is empty"},
		{name: "profile without namespace", annotations: with(AnnotationOwnerProfile, "ironcore-1"), wantErr: "is not <namespace>/<name>"},
		{name: "profile with two slashes", annotations: with(AnnotationOwnerProfile, "a/b/c"), wantErr: "is not <namespace>/<name>"},
		{name: "profile with an invalid namespace", annotations: with(AnnotationOwnerProfile, "Fleet/ironcore-1"), wantErr: "is not a namespace name"},
		{name: "profile with an invalid name", annotations: with(AnnotationOwnerProfile, "fleet/Ironcore_1"), wantErr: "is not a ClusterProfile name"},
		{name: "taken-over not a bool", annotations: with(AnnotationTakenOver, "yes"), wantErr: `is not "true" or "false"`},
		{name: "taken-over in upper case", annotations: with(AnnotationTakenOver, "True"), wantErr: `is not "true" or "false"`},
		{name: "everything wrong", annotations: map[string]string{AnnotationOwnerClusterUID: "", AnnotationTakenOver: "1"}, wantErr: AnnotationOwnerProfile + " is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := OwnerOf(tc.annotations)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OwnerOf() error = %v, want it to hold %q", err, tc.wantErr)
				}
				if ok || got != (Owner{}) {
					t.Errorf("OwnerOf() = %+v, %t alongside the error; want zero, false", got, ok)
				}
				return
			}
			if err != nil {
				t.Fatalf("OwnerOf() error = %v", err)
			}
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("OwnerOf() = %+v, %t; want %+v, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestOwnerAnnotations(t *testing.T) {
	for _, o := range []Owner{
		{Cluster: "uid-a", Profile: "fleet/ironcore-1"},
		{Cluster: "uid-a", Profile: "fleet/ironcore-1", TakenOver: true},
	} {
		a := o.Annotations()
		want := map[string]string{AnnotationOwnerClusterUID: "uid-a", AnnotationOwnerProfile: "fleet/ironcore-1"}
		if o.TakenOver {
			want[AnnotationTakenOver] = "true"
		}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("%+v.Annotations() = %v, want %v", o, a, want)
		}
		back, ok, err := OwnerOf(a)
		if err != nil || !ok || back != o {
			t.Errorf("OwnerOf(%+v.Annotations()) = %+v, %t, %v", o, back, ok, err)
		}
	}
}

func TestCountContents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels []map[string]string
		want   Contents
	}{
		{name: "empty", want: Contents{}},
		{
			name: "mixed",
			labels: []map[string]string{
				nil, {}, {"app": "x"},
				{LabelCluster: "fleet.ironcore-1"}, {LabelCluster: "fleet.ironcore-1", "app": "y"},
				{LabelCluster: "fleet.ironcore-2"}, {LabelCluster: "fleet.ironcore-2"}, {LabelCluster: "fleet.ironcore-3"},
				{LabelCluster: ""},
			},
			want: Contents{Mine: 2, Unlabelled: 3, Others: map[string]int{"fleet.ironcore-2": 2, "fleet.ironcore-3": 1, "": 1}},
		},
		{name: "only mine", labels: []map[string]string{{LabelCluster: "fleet.ironcore-1"}}, want: Contents{Mine: 1}},
	} {
		if got := CountContents(tc.labels, "fleet.ironcore-1"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: CountContents() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestClaim(t *testing.T) {
	const label = "fleet.ironcore-1"
	me := Owner{Cluster: "uid-me", Profile: "fleet/ironcore-1"}
	mine := me.Annotations()
	takenOverMine := Owner{Cluster: "uid-me", Profile: "fleet/ironcore-1", TakenOver: true}.Annotations()
	sibling := Owner{Cluster: "uid-me", Profile: "fleet/ironcore-old"}.Annotations()
	takenOverSibling := Owner{Cluster: "uid-me", Profile: "fleet/ironcore-old", TakenOver: true}.Annotations()
	foreign := Owner{Cluster: "uid-other", Profile: "fleet/ironcore-1"}.Annotations()
	apinetlet := Contents{Unlabelled: 3}
	others := Contents{Others: map[string]int{"fleet.ironcore-2": 2, "fleet.ironcore-9": 1}}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		exists      bool
		me          Owner
		takeOver    bool
		contents    Contents
		want        *Owner
		wantReason  string
		// wantWords must all be in the problem's message.
		wantWords []string
	}{
		{name: "missing namespace", want: &me},
		{name: "missing namespace, whatever its contents are said to be", contents: others, takeOver: true, want: &me},
		{name: "missing namespace, me.TakenOver not read", me: Owner{Cluster: me.Cluster, Profile: me.Profile, TakenOver: true}, want: &me},
		{name: "empty and unclaimed", exists: true, want: &me},
		{name: "unclaimed with only my objects (earlier hub version)", exists: true, contents: Contents{Mine: 5}, want: &me},
		{name: "unclaimed, my objects and take-over asked", exists: true, contents: Contents{Mine: 5}, takeOver: true, want: &me},
		{name: "claimed by me", exists: true, annotations: mine},
		{name: "claimed by me, with the claim's contents", exists: true, annotations: mine, contents: Contents{Mine: 2, Unlabelled: 4}},
		{name: "claimed by me by take-over: nothing to write", exists: true, annotations: takenOverMine, contents: apinetlet},
		{name: "claimed by me, take-over asked: nothing to write", exists: true, annotations: mine, takeOver: true},
		{
			name: "claimed by another cluster", exists: true, annotations: foreign,
			wantReason: ReasonIdentityMismatch, wantWords: []string{"uid-me", "uid-other", "reach another IronCore cluster than the one that owns", "Nothing is written or deleted", "credentials"},
		},
		{
			name: "claimed by another cluster, even with take-over", exists: true, annotations: foreign, takeOver: true,
			wantReason: ReasonIdentityMismatch, wantWords: []string{"uid-me", "uid-other"},
		},
		{
			name: "claimed by another profile of my cluster", exists: true, annotations: sibling,
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"fleet/ironcore-old", AnnotationTakeOver + "=true", AnnotationAPINetNamespace},
		},
		{name: "claimed by another profile of my cluster, take-over", exists: true, annotations: sibling, takeOver: true, want: &me},
		{
			name: "claimed by take-over by another profile, take-over kept", exists: true, annotations: takenOverSibling, takeOver: true,
			want: &Owner{Cluster: me.Cluster, Profile: me.Profile, TakenOver: true},
		},
		{
			name: "malformed claim", exists: true, annotations: map[string]string{AnnotationOwnerClusterUID: "uid-me"},
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"malformed", AnnotationOwnerProfile + " is missing"},
		},
		{
			name: "malformed claim, take-over does not help", exists: true, annotations: map[string]string{AnnotationOwnerClusterUID: "uid-me", AnnotationOwnerProfile: "x"}, takeOver: true,
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"malformed"},
		},
		{
			name: "unclaimed with other members' objects", exists: true, contents: others,
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{`"fleet.ironcore-2": 2 objects`, `"fleet.ironcore-9": 1 object`, "never adopts", AnnotationAPINetNamespace},
		},
		{
			name: "unclaimed with other members' objects, never adopted even with take-over", exists: true, contents: others, takeOver: true,
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"fleet.ironcore-2"},
		},
		{
			name: "unclaimed with other members' and unlabelled objects, take-over", exists: true, takeOver: true,
			contents:   Contents{Unlabelled: 1, Others: map[string]int{"fleet.ironcore-2": 1}},
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"fleet.ironcore-2"},
		},
		{name: "a count of mine among others is mine", exists: true, contents: Contents{Others: map[string]int{label: 1}}, want: &me},
		{
			name: "unclaimed with apinetlet's objects", exists: true, contents: apinetlet,
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"3 apinet objects", AnnotationTakeOver + "=true", "apinetlet", AnnotationAPINetNamespace},
		},
		{
			name: "unclaimed with apinetlet's and my objects", exists: true, contents: Contents{Mine: 1, Unlabelled: 1},
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{AnnotationTakeOver},
		},
		{
			name: "take-over from apinetlet", exists: true, contents: apinetlet, takeOver: true,
			want: &Owner{Cluster: me.Cluster, Profile: me.Profile, TakenOver: true},
		},
		{
			name: "a claim of mine the hub could not read back", me: Owner{Profile: me.Profile},
			wantReason: ReasonNamespaceNotOwned, wantWords: []string{"bug"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller := me
			if tc.me != (Owner{}) {
				caller = tc.me
			}
			got, problem := Claim(tc.annotations, tc.exists, caller, label, tc.takeOver, tc.contents)
			if got != nil && problem != nil {
				t.Fatalf("Claim() = %+v and %+v: want never both", got, problem)
			}
			if tc.wantReason != "" {
				if problem == nil || problem.Reason != tc.wantReason {
					t.Fatalf("Claim() = %+v, %+v; want reason %s", got, problem, tc.wantReason)
				}
				for _, w := range tc.wantWords {
					if !strings.Contains(problem.Message, w) {
						t.Errorf("Claim() message %q does not hold %q", problem.Message, w)
					}
				}
				if strings.Contains(problem.Message, "\n") {
					t.Errorf("Claim() message spans lines: %q", problem.Message)
				}
				return
			}
			if problem != nil {
				t.Fatalf("Claim() problem = %v", problem)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Claim() record = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzOwnerOf: OwnerOf never panics, returns nothing alongside an error,
// and a claim it reads is written back the same by Annotations.
func FuzzOwnerOf(f *testing.F) {
	f.Add("uid-a", "fleet/ironcore-1", "", true, true, false)
	f.Add("uid-a", "fleet/ironcore-1", "true", true, true, true)
	f.Add("uid-a", "fleet/ironcore-1", "false", true, true, true)
	f.Add("", "fleet/ironcore-1", "", true, true, false)
	f.Add("uid-a", "", "", true, false, false)
	f.Add("uid-a", "a/b/c", "yes", true, true, true)
	f.Add("", "", "true", false, false, true)
	f.Fuzz(func(t *testing.T, uid, profile, takenOver string, setUID, setProfile, setTakenOver bool) {
		annotations := ownerAnnotations(map[string]string{"other.io/x": "y"}, uid, profile, takenOver, setUID, setProfile, setTakenOver)
		owner, ok, err := OwnerOf(annotations)
		switch {
		case err != nil:
			if ok || owner != (Owner{}) || err.Error() == "" {
				t.Fatalf("OwnerOf(%v) = %+v, %t, %q", annotations, owner, ok, err)
			}
		case !ok:
			if setUID || setProfile || setTakenOver || owner != (Owner{}) {
				t.Fatalf("OwnerOf(%v) unclaimed: %+v", annotations, owner)
			}
		default:
			if !setUID || !setProfile || uid == "" || owner.Cluster != Identity(uid) || owner.Profile != profile || owner.TakenOver != (setTakenOver && takenOver == "true") {
				t.Fatalf("OwnerOf(%v) = %+v", annotations, owner)
			}
			back, ok, err := OwnerOf(owner.Annotations())
			if err != nil || !ok || back != owner {
				t.Fatalf("OwnerOf(%+v.Annotations()) = %+v, %t, %v", owner, back, ok, err)
			}
		}
	})
}

// FuzzClaim: Claim never panics and never returns both a record and a
// problem; a record is always me (identity and profile) and reads back as
// written; nothing to write only when the namespace is already claimed by
// me; objects of other members are never adopted.
func FuzzClaim(f *testing.F) {
	f.Add("uid-a", "fleet/ironcore-1", "", true, true, false, true, "uid-a", "fleet/ironcore-1", false, 0, 0, 0)
	f.Add("uid-b", "fleet/ironcore-1", "", true, true, false, true, "uid-a", "fleet/ironcore-1", true, 0, 0, 0)
	f.Add("uid-a", "fleet/ironcore-0", "true", true, true, true, true, "uid-a", "fleet/ironcore-1", true, 1, 2, 0)
	f.Add("", "", "", false, false, false, true, "uid-a", "fleet/ironcore-1", true, 0, 3, 0)
	f.Add("", "", "", false, false, false, true, "uid-a", "fleet/ironcore-1", true, 0, 3, 1)
	f.Add("", "", "", false, false, false, false, "", "fleet", false, 0, 0, 0)
	f.Add("uid-a", "x", "", true, true, false, true, "uid-a", "fleet/ironcore-1", true, 0, 0, 0)
	f.Fuzz(func(t *testing.T, uid, profile, takenOver string, setUID, setProfile, setTakenOver, exists bool,
		myUID, myProfile string, takeOver bool, mine, unlabelled, others int) {
		annotations := ownerAnnotations(map[string]string{}, uid, profile, takenOver, setUID, setProfile, setTakenOver)
		me := Owner{Cluster: Identity(myUID), Profile: myProfile}
		const label = "fleet.ironcore-1"
		contents := Contents{Mine: mine, Unlabelled: unlabelled}
		if others != 0 {
			contents.Others = map[string]int{"fleet.ironcore-2": others}
		}
		record, problem := Claim(annotations, exists, me, label, takeOver, contents)
		if record != nil && problem != nil {
			t.Fatalf("Claim() = %+v and %+v", record, problem)
		}
		if problem != nil {
			if problem.Message == "" || problem.Reason != ReasonIdentityMismatch && problem.Reason != ReasonNamespaceNotOwned {
				t.Fatalf("Claim() problem = %+v", problem)
			}
			return
		}
		owner, claimed, err := OwnerOf(annotations)
		if record == nil {
			if !exists || err != nil || !claimed || owner.Cluster != me.Cluster || owner.Profile != me.Profile {
				t.Fatalf("Claim() wrote nothing for %v (exists %t), me %+v", annotations, exists, me)
			}
			return
		}
		if record.Cluster != me.Cluster || record.Profile != me.Profile {
			t.Fatalf("Claim() record = %+v, not me %+v", record, me)
		}
		if back, ok, err := OwnerOf(record.Annotations()); err != nil || !ok || back != *record {
			t.Fatalf("the record %+v reads back as %+v, %t, %v", record, back, ok, err)
		}
		if exists && err != nil {
			t.Fatalf("Claim() recorded %+v over a malformed claim: %v", record, err)
		}
		if exists && claimed && owner.Cluster != me.Cluster {
			t.Fatalf("Claim() recorded %+v over the claim of cluster %s", record, owner.Cluster)
		}
		if exists && !claimed && others > 0 {
			t.Fatalf("Claim() adopted a namespace with other members' objects: %+v", record)
		}
		if exists && !claimed && unlabelled > 0 && !takeOver {
			t.Fatalf("Claim() adopted unlabelled objects without take-over: %+v", record)
		}
		if record.TakenOver && !takeOver && !(exists && claimed && owner.TakenOver) {
			t.Fatalf("Claim() recorded a take-over nobody asked for: %+v", record)
		}
	})
}

// ownerAnnotations adds the owner annotations a fuzz input sets to base.
func ownerAnnotations(base map[string]string, uid, profile, takenOver string, setUID, setProfile, setTakenOver bool) map[string]string {
	if setUID {
		base[AnnotationOwnerClusterUID] = uid
	}
	if setProfile {
		base[AnnotationOwnerProfile] = profile
	}
	if setTakenOver {
		base[AnnotationTakenOver] = takenOver
	}
	return base
}

func TestCheckPinned(t *testing.T) {
	cp := &clusterinventoryv1alpha1.ClusterProfile{}
	if got := PinnedIdentity(cp); got != "" {
		t.Fatalf("PinnedIdentity of a profile without the property = %q", got)
	}
	cp.Status.Properties = []clusterinventoryv1alpha1.Property{{Name: "other", Value: "x"}, {Name: PropertyClusterUID, Value: "uid-a"}}
	if got := PinnedIdentity(cp); got != "uid-a" {
		t.Fatalf("PinnedIdentity = %q, want uid-a", got)
	}
	for _, tc := range []struct {
		pinned, reached Identity
		refused         bool
	}{{"", "uid-a", false}, {"uid-a", "uid-a", false}, {"uid-a", "uid-b", true}} {
		pr := CheckPinned(tc.pinned, tc.reached)
		if (pr != nil) != tc.refused || pr != nil && (pr.Reason != ReasonIdentityMismatch || !strings.Contains(pr.Message, string(tc.pinned)) || !strings.Contains(pr.Message, string(tc.reached))) {
			t.Errorf("CheckPinned(%q, %q) = %v", tc.pinned, tc.reached, pr)
		}
	}
}
