package pq

import "fmt"

// Metric names the distance a quantizer approximates.
type Metric uint8

const (
	// L2 is the squared Euclidean distance Σ (q[i]-x[i])².
	L2 Metric = iota
	// InnerProduct is 1 − ⟨q,x⟩.
	InnerProduct
	// Cosine is 1 − ⟨q,x⟩/(‖q‖·‖x‖); the scalar quantizer supports it,
	// product quantization does not.
	Cosine
)

// String returns the metric's name as the API spells it.
func (m Metric) String() string {
	switch m {
	case L2:
		return "l2"
	case InnerProduct:
		return "ip"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("Metric(%d)", uint8(m))
}

// ParseMetric maps an API metric name (l2, euclidean, l2sq, ip,
// inner-product, cosine) to a Metric.
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "l2", "euclidean", "l2sq":
		return L2, nil
	case "ip", "inner-product", "dot":
		return InnerProduct, nil
	case "cosine":
		return Cosine, nil
	}
	return 0, fmt.Errorf("cannot parse metric %q: %w", s, ErrInvalidArgument)
}

func (m Metric) valid() bool { return m <= Cosine }
