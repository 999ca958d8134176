package clusterprofiles

import (
	"fmt"
	"strings"
	"testing"
	"time"
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

func TestActiveAPINetlet(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	lease := func(holder string, renewedAgo time.Duration, seconds int) string {
		return fmt.Sprintf(`{"metadata":{"namespace":"apinetlet-system","name":%q},"spec":{"holderIdentity":%q,"leaseDurationSeconds":%d,"renewTime":%q}}`,
			APINetletLease, holder, seconds, now.Add(-renewedAgo).Format("2006-01-02T15:04:05.000000Z07:00"))
	}
	list := func(items ...string) []byte {
		return []byte(`{"kind":"LeaseList","apiVersion":"coordination.k8s.io/v1","items":[` + strings.Join(items, ",") + `]}`)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want string // reason, "" for none
	}{
		{"no apinetlet Lease", list(), ""},
		{"fresh", list(lease("apinetlet-7d9f_1", 3*time.Second, 15)), ReasonAPINetletActive},
		{"expired (apinetlet stopped)", list(lease("apinetlet-7d9f_1", 16*time.Second, 15)), ""},
		{"released (no holder)", list(lease("", time.Second, 15)), ""},
		{"one of two fresh", list(lease("a", time.Hour, 15), lease("b", time.Second, 15)), ReasonAPINetletActive},
		{"no duration: client-go's 15 s", list(strings.Replace(lease("a", 10*time.Second, 1), `"leaseDurationSeconds":1,`, "", 1)), ReasonAPINetletActive},
		{"acquired, never renewed", list(fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"holderIdentity":"a","acquireTime":%q}}`, APINetletLease, now.Add(-time.Second).Format(time.RFC3339))), ReasonAPINetletActive},
		{"another Lease's name", list(strings.Replace(lease("a", time.Second, 15), APINetletLease, "other", 1)), ""},
		{"not a LeaseList", []byte(`{"kind":"Status"}`), ReasonUnreachable},
		{"garbage", []byte(`<html>`), ReasonUnreachable},
	} {
		got := ActiveAPINetlet(tc.body, now)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: %s: %s, want none", tc.name, got.Reason, got.Message)
		case tc.want != "" && (got == nil || got.Reason != tc.want):
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
		if got != nil && got.Reason == ReasonAPINetletActive && !strings.Contains(got.Message, "apinetlet-system/"+APINetletLease) && tc.name == "fresh" {
			t.Errorf("%s: the message names the Lease: %s", tc.name, got.Message)
		}
	}
}

// FuzzActiveAPINetlet reads arbitrary answers to the Lease list: never a
// panic, and a problem is always an active apinetlet or an unreadable list.
func FuzzActiveAPINetlet(f *testing.F) {
	f.Add([]byte(`{"kind":"LeaseList","items":[{"metadata":{"name":"` + APINetletLease + `"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"renewTime":"2026-12-01T12:00:00.000000Z"}}]}`))
	f.Add([]byte(`{"kind":"LeaseList","items":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if p := ActiveAPINetlet(body, time.Date(2026, 12, 1, 12, 0, 5, 0, time.UTC)); p != nil && p.Reason != ReasonAPINetletActive && p.Reason != ReasonUnreachable {
			t.Fatalf("reason %s", p.Reason)
		}
	})
}
