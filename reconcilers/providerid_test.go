package reconcilers

import (
	"reflect"
	"strings"
	"testing"
)

func TestNetworkID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    NetworkID
		wantErr bool
	}{
		{in: "ironcore-net://ns/name/123/uid", want: NetworkID{"ns", "name", "123", "uid"}},
		{in: "ns/name/foo/uid", want: NetworkID{"ns", "name", "foo", "uid"}}, // prefix optional
		{in: "ironcore-net://///", want: NetworkID{}},                        // empty parts pass, as in apinetlet
		{in: "ironcore-net://ns/name/123", wantErr: true},
		{in: "ironcore-net://ns/name/123/uid/extra", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := ParseNetworkID(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseNetworkID(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), "invalid provider id") {
				t.Errorf("ParseNetworkID(%q) error %q lacks 'invalid provider id'", tc.in, err)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("ParseNetworkID(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if back, err := ParseNetworkID(got.String()); err != nil || back != got {
			t.Errorf("round trip of %+v: %+v, %v", got, back, err)
		}
	}
}

func TestNetworkInterfaceID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    NetworkInterfaceID
		wantErr bool
	}{
		{in: "ironcore-net://ns/nic/node-1.zone/uid", want: NetworkInterfaceID{"ns", "nic", "node-1.zone", "uid"}},
		{in: "ns/nic/node/uid", want: NetworkInterfaceID{"ns", "nic", "node", "uid"}},
		{in: "ironcore-net://ns/nic/Node_1/uid", wantErr: true}, // node must be a DNS subdomain
		{in: "ironcore-net://ns/nic//uid", wantErr: true},
		{in: "ironcore-net://ns/nic/node", wantErr: true},
		{in: "ironcore-net://a/b/c/d/e", wantErr: true},
	} {
		got, err := ParseNetworkInterfaceID(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseNetworkInterfaceID(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("ParseNetworkInterfaceID(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseNetworkID(f *testing.F) {
	for _, s := range []string{"ironcore-net://ns/name/123/uid", "ns/name/foo/uid", "ironcore-net:////", "a/b/c", "a/b/c/d/e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseNetworkID(s)
		if err != nil {
			return
		}
		for _, part := range []string{id.Namespace, id.Name, id.ID} {
			if strings.Contains(part, "/") {
				t.Fatalf("part %q of %q holds a slash", part, s)
			}
		}
		if back, err := ParseNetworkID(id.String()); err != nil || back != id {
			t.Fatalf("round trip of %q: %+v -> %+v, %v", s, id, back, err)
		}
	})
}

func FuzzParseNetworkInterfaceID(f *testing.F) {
	for _, s := range []string{"ironcore-net://ns/nic/node/uid", "ns/nic/node/uid", "ironcore-net://ns/nic/Node_1/uid", "a/b/c/d/e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseNetworkInterfaceID(s)
		if err != nil {
			return
		}
		if id.Node == "" || strings.Contains(id.Namespace+id.Name+id.Node, "/") {
			t.Fatalf("%q parsed to %+v", s, id)
		}
		if back, err := ParseNetworkInterfaceID(id.String()); err != nil || back != id {
			t.Fatalf("round trip of %q: %+v -> %+v, %v", s, id, back, err)
		}
	})
}

func TestForeignNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []string
		want map[string]int
	}{
		{"none", nil, nil},
		{"all the member's", []string{"ironcore-net://fleet-a/n/1/u", "ironcore-net://fleet-a/nic/node/u"}, nil},
		{"empty and unparsable are not counted", []string{"", "ironcore-net://x", "garbage"}, nil},
		{"apinetlet's namespace", []string{"ironcore-net://fleet-a/n/1/u", "ironcore-net://apinetlet/n/2/u", "apinetlet/nic/node/u"}, map[string]int{"apinetlet": 2}},
		{"two others", []string{"ironcore-net://b/n/1/u", "ironcore-net://c/n/1/u", "ironcore-net://c/m/2/v"}, map[string]int{"b": 1, "c": 2}},
	} {
		if got := foreignNamespaces(tc.ids, "fleet-a"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: foreignNamespaces = %v, want %v", tc.name, got, tc.want)
		}
	}
}
