package fleet

import (
	"fmt"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricSum parses Prometheus text exposition and sums the samples of the
// counter, gauge or untyped metric name whose labels include every pair of
// match (nil: all its samples). A metric that is not there sums to 0.
func MetricSum(text, name string, match map[string]string) (float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	// The text format ends every line with a newline; HTTPGet trims the
	// last one.
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return 0, fmt.Errorf("parse metrics: %w", err)
	}
	var sum float64
	for _, m := range families[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range match {
			matches = matches && labels[k] == v
		}
		if !matches {
			continue
		}
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, nil
}
