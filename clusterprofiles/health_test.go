package clusterprofiles

import (
	"strings"
	"testing"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		body, want, err string
	}{
		{`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":"8e1b2c3d-0000-4000-8000-000000000001"}}`, "8e1b2c3d-0000-4000-8000-000000000001", ""},
		{`{"kind":"Namespace","metadata":{"name":"default","uid":"x"}}`, "", "not the kube-system Namespace"},
		{`{"kind":"Status","metadata":{}}`, "", "not the kube-system Namespace"},
		{`{"kind":"Namespace","metadata":{"name":"kube-system"}}`, "", "no usable uid"},
		{`{"kind":"Namespace","metadata":{"name":"kube-system","uid":"a b"}}`, "", "no usable uid"},
		{`<html>`, "", "not a Namespace"},
	} {
		got, err := ParseIdentity([]byte(tc.body))
		if string(got) != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseIdentity(%s) = %q, %v; want %q, error containing %q", tc.body, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseIdentity reads arbitrary answers to GET
// /api/v1/namespaces/kube-system: never a panic, and an identity only with
// no error, never empty, never with white space or a slash.
func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte(`{"kind":"Namespace","metadata":{"name":"kube-system","uid":"u-1"}}`))
	f.Add([]byte(`{"kind":"Namespace","metadata":{"name":"kube-system","uid":""}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := ParseIdentity(body)
		if err != nil {
			if id != "" {
				t.Fatalf("identity %q with error %v", id, err)
			}
			return
		}
		if id == "" || strings.ContainsAny(string(id), " \t\n/") || len(id) > 128 {
			t.Fatalf("unusable identity %q accepted", id)
		}
	})
}
