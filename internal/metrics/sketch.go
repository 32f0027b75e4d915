package metrics

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// RelativeAccuracy is the relative accuracy of every sketch in the store.
const RelativeAccuracy = 0.01

var (
	sketchMapping  *mapping.LogarithmicMapping
	maxSketchIndex int
)

func init() {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err)
	}
	sketchMapping = m
	maxSketchIndex = m.Index(m.MaxIndexableValue()) + 1
}

// newSketch returns an empty sketch with dense stores, whose Add does not
// allocate once the stores have grown to cover the values seen.
func newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(sketchMapping, store.NewDenseStore(), store.NewDenseStore())
}

type bin struct {
	index int
	count float64
}

var errBins = errors.New("bad sketch bins")

// encodeBins appends the compact form of sk to dst: for the positive
// then the negative store, a uvarint bin count and, per bin in ascending
// index order, the zigzag delta of the index and the count; then the zero
// count. A count is a uvarint 2n for an integer n < 2^52, or 1 followed by
// the 8 bytes of a float64.
func encodeBins(dst []byte, sk *ddsketch.DDSketch, scratch []bin) ([]byte, []bin) {
	for _, st := range [...]store.Store{sk.GetPositiveValueStore(), sk.GetNegativeValueStore()} {
		scratch = scratch[:0]
		st.ForEach(func(i int, c float64) bool {
			if c > 0 {
				scratch = append(scratch, bin{i, c})
			}
			return false
		})
		slices.SortFunc(scratch, func(a, b bin) int { return a.index - b.index })
		dst = binary.AppendUvarint(dst, uint64(len(scratch)))
		prev := 0
		for _, b := range scratch {
			dst = binary.AppendVarint(dst, int64(b.index-prev))
			prev = b.index
			dst = appendCount(dst, b.count)
		}
	}
	return appendCount(dst, sk.GetZeroCount()), scratch
}

func appendCount(dst []byte, c float64) []byte {
	if c >= 0 && c < 1<<52 && c == math.Trunc(c) {
		return binary.AppendUvarint(dst, uint64(c)<<1)
	}
	dst = append(dst, 1)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(c))
}

func readCount(b []byte) (float64, []byte, error) {
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errBins
	}
	b = b[n:]
	if u&1 == 0 {
		return float64(u >> 1), b, nil
	}
	if u != 1 || len(b) < 8 {
		return 0, nil, errBins
	}
	c := math.Float64frombits(binary.LittleEndian.Uint64(b))
	if !(c >= 0) || math.IsInf(c, 0) {
		return 0, nil, errBins
	}
	return c, b[8:], nil
}

// decodeBins merges encoded bins into sk. It checks every index and count,
// so it is safe on untrusted input; on error sk may hold part of the bins.
func decodeBins(b []byte, sk *ddsketch.DDSketch) error {
	for _, st := range [...]store.Store{sk.GetPositiveValueStore(), sk.GetNegativeValueStore()} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return errBins
		}
		b = b[k:]
		idx := int64(0)
		for range n {
			d, k := binary.Varint(b)
			if k <= 0 {
				return errBins
			}
			b = b[k:]
			idx += d
			if idx < -int64(maxSketchIndex) || idx > int64(maxSketchIndex) {
				return errBins
			}
			c, rest, err := readCount(b)
			if err != nil {
				return err
			}
			b = rest
			st.AddWithCount(int(idx), c)
		}
	}
	z, rest, err := readCount(b)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errBins
	}
	if z > 0 {
		// Any value whose magnitude is below MinIndexableValue lands in the zero bin.
		return sk.AddWithCount(0, z)
	}
	return nil
}

// sortedBins lists the bins of sk by ascending value.
func sortedBins(sk *ddsketch.DDSketch) []valueBin {
	var out []valueBin
	sk.GetNegativeValueStore().ForEach(func(i int, c float64) bool {
		if c > 0 {
			out = append(out, valueBin{-sketchMapping.Value(i), c})
		}
		return false
	})
	if z := sk.GetZeroCount(); z > 0 {
		out = append(out, valueBin{0, z})
	}
	sk.GetPositiveValueStore().ForEach(func(i int, c float64) bool {
		if c > 0 {
			out = append(out, valueBin{sketchMapping.Value(i), c})
		}
		return false
	})
	slices.SortFunc(out, func(a, b valueBin) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	return out
}

type valueBin struct{ v, c float64 }
