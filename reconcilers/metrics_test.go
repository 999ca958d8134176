package reconcilers_test

import (
	. "github.com/onsi/gomega"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// gathered sums, over the hub's registry, the series of a metric family
// whose labels include want: gauge and counter values, histogram counts.
func gathered(name string, want map[string]string) func() float64 {
	return func() float64 {
		families, err := crmetrics.Registry.Gather()
		Expect(err).NotTo(HaveOccurred())
		var sum float64
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
		series:
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				for k, v := range want {
					if labels[k] != v {
						continue series
					}
				}
				switch {
				case m.Gauge != nil:
					sum += m.GetGauge().GetValue()
				case m.Counter != nil:
					sum += m.GetCounter().GetValue()
				case m.Histogram != nil:
					sum += float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return sum
	}
}
