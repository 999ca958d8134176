package reconcilers

import (
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
