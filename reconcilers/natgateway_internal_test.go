package reconcilers

import (
	"reflect"
	"testing"
)

func TestNATLimits(t *testing.T) {
	hub := NATLimits{Min: 1, Max: 10}
	annotations := func(min, max string) map[string]string {
		a := map[string]string{}
		if min != "" {
			a[AnnotationNATMinPublicIPs] = min
		}
		if max != "" {
			a[AnnotationNATMaxPublicIPs] = max
		}
		return a
	}
	for _, tc := range []struct {
		name            string
		member, gateway map[string]string
		want            NATLimits
		problems        int
	}{
		{name: "hub default", want: hub},
		{name: "member override", member: annotations("2", "4"), want: NATLimits{2, 4}},
		{name: "gateway wins over member", member: annotations("2", "4"), gateway: annotations("", "3"), want: NATLimits{2, 3}},
		{name: "gateway max below member min", member: annotations("2", ""), gateway: annotations("", "1"), want: NATLimits{2, 10}, problems: 1},
		{name: "not a number", gateway: annotations("many", ""), want: hub, problems: 1},
		{name: "negative", gateway: annotations("-1", ""), want: hub, problems: 1},
		{name: "min above max", gateway: annotations("5", "2"), want: hub, problems: 1},
		{name: "zero is allowed", gateway: annotations("0", "0"), want: NATLimits{0, 0}},
		{name: "bad member, good gateway", member: annotations("x", ""), gateway: annotations("", "1"), want: NATLimits{1, 1}, problems: 1},
	} {
		got, problems := natLimits(hub, natLayer{"member", tc.member}, natLayer{"gateway", tc.gateway})
		if !reflect.DeepEqual(got, tc.want) || len(problems) != tc.problems {
			t.Errorf("%s: natLimits = %+v, %q; want %+v with %d problems", tc.name, got, problems, tc.want, tc.problems)
		}
	}
}
