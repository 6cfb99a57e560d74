package server

// appendNumberList reads the elements of a JSON array of numbers, from
// b[i] (just past the '[' and any whitespace) through the closing ']', and
// appends them to dst as float32. It returns the index just past the ']'.
// ok is false, with dst's contents past n0 unspecified, when an element is
// not a valid JSON number finite as a float32, the array is malformed, or
// it holds more than maxVectorDim - (len(dst) - n0) elements.
//
// It is the hot loop of every search request (784 to 1536 numbers a body):
// the common number, up to 15 significant digits with no exponent, is
// converted in the loop itself, exactly as parseNumberAt would (float64 of
// the mantissa divided by an exact power of ten, then float32); any other
// form is handed to parseNumberAt. Elements are separated by a ',' with no
// whitespace in JSON written by machines, which is checked first.
func appendNumberList(dst []float32, n0 int, b []byte, i int) (_ []float32, _ int, ok bool) {
	if i < len(b) && b[i] == ']' {
		return dst, i + 1, true
	}
	for {
		if len(dst)-n0 >= maxVectorDim {
			return dst, i, false
		}
		start := i
		neg := false
		if i < len(b) && b[i] == '-' {
			neg = true
			i++
		}
		d0 := i
		var mant uint64
		for i < len(b) {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
			i++
		}
		nint := i - d0
		nfrac := 0
		if i < len(b) && b[i] == '.' {
			i++
			f0 := i
			for i < len(b) {
				c := b[i] - '0'
				if c > 9 {
					break
				}
				mant = mant*10 + uint64(c)
				i++
			}
			nfrac = i - f0
			if nfrac == 0 {
				return dst, i, false
			}
		}
		var x float32
		switch {
		case nint == 0 || (nint > 1 && b[d0] == '0'):
			return dst, i, false // no digit, or a leading zero
		case nint+nfrac > 15 || (i < len(b) && (b[i] == 'e' || b[i] == 'E')):
			var ok bool
			if x, i, ok = parseNumberAt(b, start); !ok {
				return dst, i, false
			}
		default:
			f := float64(mant) // exact: below 10^15 < 2^53
			if nfrac > 0 {
				f /= pow10[nfrac]
			}
			if neg {
				f = -f
			}
			x = float32(f) // finite: |f| < 10^15
		}
		dst = append(dst, x)
		if i < len(b) && b[i] == ',' {
			i++
			if i < len(b) && b[i] > ' ' {
				continue
			}
			i = skipWS(b, i)
			continue
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return dst, i, false
		}
		switch b[i] {
		case ']':
			return dst, i + 1, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return dst, i, false
		}
	}
}
