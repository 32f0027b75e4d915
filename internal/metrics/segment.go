package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Segment file format (all integers little-endian):
//
//	header: "HFMETRIC" | uint32 version (1) | uint32 CRC-32C of the previous 12 bytes
//	frame*: uint32 payload length | uint32 CRC-32C of payload | payload
//
// A payload is a sequence of records, applied all or none:
//
//	1 series:    uvarint fid | str namespace | str name | uvarint n | n × (str name | str value) | str unit
//	2 watermark: uvarint fid | uvarint period (s) | varint T — every bucket of that period with start < T is gone
//	3 bucket:    uvarint fid | uvarint period (s) | varint start | 4 × float64 count,sum,min,max | byte flags (1 = no sketch) | uvarint n | n bytes of bins (encodeBins)
//
// where str is a uvarint length and bytes. A bucket record carries the full
// content of its bucket and replaces any earlier one. Reading stops at the
// first truncated or corrupt frame; the frames before it are kept.
const (
	segmentMagic   = "HFMETRIC"
	segmentVersion = 1
	headerLen      = 16
	maxFrameLen    = 256 << 20
)

const (
	recSeries    = 1
	recWatermark = 2
	recBucket    = 3
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type record struct {
	typ    byte
	fid    uint64
	id     MetricID
	unit   string
	period int64
	t      int64 // start of a bucket, or watermark
	b      bucket
}

func appendHeader(dst []byte) []byte {
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, segmentVersion)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[len(dst)-12:], castagnoli))
}

// appendFrame appends a frame holding payload.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendSeriesRecord(dst []byte, fid uint64, id MetricID, unit string) []byte {
	dst = append(dst, recSeries)
	dst = binary.AppendUvarint(dst, fid)
	dst = appendString(dst, id.Namespace)
	dst = appendString(dst, id.Name)
	dst = binary.AppendUvarint(dst, uint64(len(id.Dimensions)))
	for _, d := range id.Dimensions {
		dst = appendString(dst, d.Name)
		dst = appendString(dst, d.Value)
	}
	return appendString(dst, unit)
}

func appendWatermarkRecord(dst []byte, fid uint64, period, wm int64) []byte {
	dst = append(dst, recWatermark)
	dst = binary.AppendUvarint(dst, fid)
	dst = binary.AppendUvarint(dst, uint64(period))
	return binary.AppendVarint(dst, wm)
}

func appendBucketRecord(dst []byte, fid uint64, period int64, b *bucket) []byte {
	dst = append(dst, recBucket)
	dst = binary.AppendUvarint(dst, fid)
	dst = binary.AppendUvarint(dst, uint64(period))
	dst = binary.AppendVarint(dst, b.start)
	for _, f := range [...]float64{b.set.SampleCount, b.set.Sum, b.set.Minimum, b.set.Maximum} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	var flags byte
	if b.noSketch {
		flags = 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(b.bins)))
	return append(dst, b.bins...)
}

// decodeSegment reads a segment and calls apply with the records of each
// valid frame, a frame at a time. It returns the length of the valid
// prefix, the number of frames read and, if the data ends in a truncated
// or corrupt frame, an error wrapping ErrCorrupt.
func decodeSegment(data []byte, apply func([]record)) (valid int64, frames int, err error) {
	if len(data) < headerLen {
		return 0, 0, fmt.Errorf("%w: header truncated (%d bytes)", ErrCorrupt, len(data))
	}
	if string(data[:8]) != segmentMagic {
		return 0, 0, fmt.Errorf("%w: not a metrics segment (bad magic)", ErrCorrupt)
	}
	if crc32.Checksum(data[:12], castagnoli) != binary.LittleEndian.Uint32(data[12:16]) {
		return 0, 0, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(data[8:12]); v != segmentVersion {
		return 0, 0, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrCorrupt, v, segmentVersion)
	}
	off := headerLen
	for off < len(data) {
		if len(data)-off < 8 {
			return int64(off), frames, fmt.Errorf("%w: frame header truncated at offset %d", ErrCorrupt, off)
		}
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > maxFrameLen || int(n) > len(data)-off-8 {
			return int64(off), frames, fmt.Errorf("%w: frame at offset %d truncated (length %d, %d bytes left)", ErrCorrupt, off, n, len(data)-off-8)
		}
		payload := data[off+8 : off+8+int(n)]
		if crc32.Checksum(payload, castagnoli) != sum {
			return int64(off), frames, fmt.Errorf("%w: frame at offset %d: checksum mismatch", ErrCorrupt, off)
		}
		recs, err := decodeRecords(payload)
		if err != nil {
			return int64(off), frames, fmt.Errorf("%w: frame at offset %d: %v", ErrCorrupt, off, err)
		}
		apply(recs)
		frames++
		off += 8 + int(n)
	}
	return int64(off), frames, nil
}

var errShort = errors.New("record truncated")

type reader struct{ b []byte }

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, errShort
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) varint() (int64, error) {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		return 0, errShort
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) bytes() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)) {
		return nil, errShort
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out, nil
}

func (r *reader) str() (string, error) {
	b, err := r.bytes()
	return string(b), err
}

// decodeRecords parses a frame payload; every field is checked.
func decodeRecords(p []byte) ([]record, error) {
	r := &reader{p}
	var out []record
	sk := newSketch()
	for len(r.b) > 0 {
		rec := record{typ: r.b[0]}
		r.b = r.b[1:]
		var err error
		if rec.fid, err = r.uvarint(); err != nil {
			return nil, err
		}
		switch rec.typ {
		case recSeries:
			err = decodeSeriesRecord(r, &rec)
		case recWatermark, recBucket:
			var period uint64
			if period, err = r.uvarint(); err != nil {
				return nil, err
			}
			if period == 0 || period > 1<<40 {
				return nil, fmt.Errorf("bad period %d", period)
			}
			rec.period = int64(period)
			if rec.t, err = r.varint(); err != nil {
				return nil, err
			}
			if rec.typ == recBucket {
				err = decodeBucketRecord(r, &rec, sk)
			}
		default:
			return nil, fmt.Errorf("unknown record type %d", rec.typ)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func decodeSeriesRecord(r *reader, rec *record) error {
	var err error
	if rec.id.Namespace, err = r.str(); err != nil {
		return err
	}
	if rec.id.Name, err = r.str(); err != nil {
		return err
	}
	n, err := r.uvarint()
	if err != nil {
		return err
	}
	if n > MaxDimensions {
		return fmt.Errorf("%d dimensions", n)
	}
	for range n {
		var d Dimension
		if d.Name, err = r.str(); err != nil {
			return err
		}
		if d.Value, err = r.str(); err != nil {
			return err
		}
		rec.id.Dimensions = append(rec.id.Dimensions, d)
	}
	if rec.unit, err = r.str(); err != nil {
		return err
	}
	if err := rec.id.Validate(); err != nil {
		return err
	}
	return nil
}

func decodeBucketRecord(r *reader, rec *record, sk *ddsketch.DDSketch) error {
	if len(r.b) < 33 {
		return errShort
	}
	f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(r.b[8*i:])) }
	rec.b.start = rec.t
	rec.b.set = StatSet{SampleCount: f(0), Sum: f(1), Minimum: f(2), Maximum: f(3)}
	flags := r.b[32]
	r.b = r.b[33:]
	if flags > 1 {
		return fmt.Errorf("bad bucket flags %#x", flags)
	}
	rec.b.noSketch = flags == 1
	if err := rec.b.set.validate(); err != nil {
		return fmt.Errorf("bucket at %d: %w", rec.t, err)
	}
	if rec.t%rec.period != 0 {
		return fmt.Errorf("bucket start %d not aligned to period %d", rec.t, rec.period)
	}
	bins, err := r.bytes()
	if err != nil {
		return err
	}
	sk.Clear()
	if err := decodeBins(bins, sk); err != nil {
		return fmt.Errorf("bucket at %d: %w", rec.t, err)
	}
	rec.b.bins = append([]byte(nil), bins...)
	return nil
}
