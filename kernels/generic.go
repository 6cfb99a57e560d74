package kernels

import "math"

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// The generic implementations: plain Go, always compiled, and the oracle the
// assembly is tested against.

func l2SqGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func l2SqBatchGeneric(q, data []float32, out []float32) {
	d := len(q)
	_ = data[:len(out)*d]
	for i := range out {
		out[i] = l2SqGeneric(q, data[i*d:(i+1)*d])
	}
}

func dotBatchGeneric(q, data []float32, out []float32) {
	d := len(q)
	_ = data[:len(out)*d]
	for i := range out {
		out[i] = dotGeneric(q, data[i*d:(i+1)*d])
	}
}

func l2SqGatherGeneric(q, arena []float32, ids []uint32, out []float32) {
	d := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * d
		out[i] = l2SqGeneric(q, arena[o:o+d])
	}
}

func dotGatherGeneric(q, arena []float32, ids []uint32, out []float32) {
	d := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * d
		out[i] = dotGeneric(q, arena[o:o+d])
	}
}

func l2SqInt8Generic(a, b []int8) int32 {
	b = b[:len(a)]
	var s int32
	for i := range a {
		d := int32(a[i]) - int32(b[i])
		s += d * d
	}
	return s
}

func dotInt8Generic(a, b []int8) int32 {
	b = b[:len(a)]
	var s int32
	for i := range a {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func l2SqInt8GatherGeneric(q, arena []int8, ids []uint32, out []int32) {
	d := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * d
		out[i] = l2SqInt8Generic(q, arena[o:o+d])
	}
}

func dotInt8GatherGeneric(q, arena []int8, ids []uint32, out []int32) {
	d := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * d
		out[i] = dotInt8Generic(q, arena[o:o+d])
	}
}

func dotF32Int8Generic(q []float32, c []int8) float32 {
	c = c[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += q[i] * float32(c[i])
		s1 += q[i+1] * float32(c[i+1])
		s2 += q[i+2] * float32(c[i+2])
		s3 += q[i+3] * float32(c[i+3])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF32Int8GatherGeneric(q []float32, arena []int8, ids []uint32, out []float32) {
	d := len(q)
	out = out[:len(ids)]
	for i, id := range ids {
		o := int(id) * d
		out[i] = dotF32Int8Generic(q, arena[o:o+d])
	}
}

func adc8Generic(table []float32, codes []uint8, out []float32) {
	m := len(table) / 256
	_ = codes[:len(out)*m]
	for i := range out {
		c := codes[i*m : (i+1)*m]
		var s float32
		for j, k := range c {
			s += table[j<<8|int(k)]
		}
		out[i] = s
	}
}

func adc16Generic(table []float32, codes []uint16, out []float32) {
	m := len(table) / 65536
	_ = codes[:len(out)*m]
	for i := range out {
		c := codes[i*m : (i+1)*m]
		var s float32
		for j, k := range c {
			s += table[j<<16|int(k)]
		}
		out[i] = s
	}
}
