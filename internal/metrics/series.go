package metrics

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/DataDog/sketches-go/ddsketch"
)

// openSlots is how many periods of a series accept points in place at once;
// more than one absorbs requests that straddle a period boundary.
const openSlots = 4

const minWM = math.MinInt64

// Approximate sizes used for the memory estimate.
const (
	bucketOverhead = 72
	seriesOverhead = 512
	openSketchSize = 2048
)

// bucket is a closed period: its statistic set and its sketch in the compact
// form of encodeBins. noSketch is set when a statistic set with distinct
// values was merged in, so the bins do not describe all samples.
type bucket struct {
	start    int64 // unix seconds, a multiple of the tier period
	set      StatSet
	bins     []byte
	noSketch bool
}

func (b *bucket) size() int64 { return bucketOverhead + int64(len(b.bins)) }

type tierData struct {
	buckets []bucket // sorted by start
	// wm: every bucket with start < wm has been rolled up or dropped.
	wm      int64
	wmDirty bool
}

type openBucket struct {
	used     bool
	tier     int
	start    int64
	set      StatSet
	sk       *ddsketch.DDSketch
	noSketch bool
	// A run of equal values not yet in sk: runN samples of value runV.
	// Counters record the same value again and again (1 per request, 0
	// for no error); a run costs a comparison where the sketch costs a
	// logarithm. settle moves it into sk before anyone reads sk.
	runV, runN float64
}

type bucketRef struct {
	tier  int
	start int64
}

// series holds the data of one metric. mu guards everything below it.
type series struct {
	st      *Store
	id      MetricID
	key     string
	fid     uint64 // identifier in the segment file
	handles atomic.Int32

	mu        sync.Mutex
	unit      string
	tiers     []tierData
	open      [openSlots]openBucket
	dirty     []bucketRef
	persisted bool // series record written since the last compaction
	bytes     int64
	scratch   *ddsketch.DDSketch
	binbuf    []bin
}

func newSeries(st *Store, id MetricID, key string, fid uint64) *series {
	s := &series{st: st, id: id, key: key, fid: fid, tiers: make([]tierData, len(st.tiers))}
	for i := range s.tiers {
		s.tiers[i].wm = minWM
	}
	s.bytes = seriesOverhead
	st.bytes.Add(seriesOverhead)
	return s
}

func (s *series) addBytes(d int64) {
	s.bytes += d
	s.st.bytes.Add(d)
}

// addLocked records value v (count times) in the period of tier starting at
// start. nowFn is called only when the period is not open.
func (s *series) addLocked(tier int, start int64, v, count float64, set *StatSet) {
	for i := range s.open {
		ob := &s.open[i]
		if ob.used && ob.start == start && ob.tier == tier {
			ob.record(v, count, set)
			return
		}
	}
	// Not open: take a free slot, or evict the oldest slot if it is older.
	oldest := -1
	for i := range s.open {
		ob := &s.open[i]
		if !ob.used {
			oldest = i
			break
		}
		if oldest < 0 || ob.start < s.open[oldest].start {
			oldest = i
		}
	}
	ob := &s.open[oldest]
	if ob.used {
		if ob.start > start {
			s.lateLocked(tier, start, v, count, set)
			return
		}
		s.closeLocked(ob)
	}
	if ob.sk == nil {
		ob.sk = newSketch()
		s.addBytes(openSketchSize)
	}
	ob.used, ob.tier, ob.start = true, tier, start
	ob.record(v, count, set)
}

func (ob *openBucket) record(v, count float64, set *StatSet) {
	if set != nil {
		ob.set.merge(*set)
		if set.Minimum != set.Maximum {
			ob.noSketch = true
			return
		}
		v, count = set.Minimum, set.SampleCount
	} else {
		ob.set.add(v, count)
		if ob.runN > 0 && v == ob.runV {
			ob.runN += count
			return
		}
		ob.settle()
		ob.runV, ob.runN = v, count
		return
	}
	if ob.sk.AddWithCount(v, count) != nil {
		ob.noSketch = true
	}
}

// settle adds the pending run of equal values to the sketch.
func (ob *openBucket) settle() {
	if ob.runN == 0 {
		return
	}
	if ob.sk.AddWithCount(ob.runV, ob.runN) != nil {
		ob.noSketch = true
	}
	ob.runV, ob.runN = 0, 0
}

// lateLocked merges a point for a period older than every open one into
// its closed bucket.
func (s *series) lateLocked(tier int, start int64, v, count float64, set *StatSet) {
	sk := s.scratchSketch()
	var ob openBucket
	ob.sk = sk
	ob.record(v, count, set)
	ob.settle()
	s.mergeClosedLocked(tier, start, ob.set, sk, nil, ob.noSketch)
	sk.Clear()
}

func (s *series) scratchSketch() *ddsketch.DDSketch {
	if s.scratch == nil {
		s.scratch = newSketch()
	}
	return s.scratch
}

// closeLocked moves an open bucket into its tier and frees the slot.
func (s *series) closeLocked(ob *openBucket) {
	ob.settle()
	s.mergeClosedLocked(ob.tier, ob.start, ob.set, ob.sk, nil, ob.noSketch)
	ob.sk.Clear()
	ob.used, ob.set, ob.noSketch = false, StatSet{}, false
}

// mergeClosedLocked merges a statistic set and a sketch (or, if sk is nil,
// encoded bins) into the closed bucket (tier, start), creating it if needed.
// A period below the tier's watermark goes to the next coarser tier, or is
// dropped past the last one. sk, when given, is left holding the merge.
func (s *series) mergeClosedLocked(tier int, start int64, set StatSet, sk *ddsketch.DDSketch, bins []byte, noSketch bool) {
	for tier < len(s.tiers) && start < s.tiers[tier].wm {
		tier++
		if tier < len(s.tiers) {
			start = floorDiv(start, s.st.tiers[tier].period)
		}
	}
	if tier >= len(s.tiers) {
		return
	}
	td := &s.tiers[tier]
	i, found := slices.BinarySearchFunc(td.buckets, start, func(b bucket, t int64) int { return cmpInt(b.start, t) })
	if !found && sk != nil {
		// Fast path: a fresh bucket from a sketch.
		b := bucket{start: start, set: set, noSketch: noSketch}
		b.bins, s.binbuf = encodeBins(nil, sk, s.binbuf)
		td.buckets = slices.Insert(td.buckets, i, b)
		s.addBytes(b.size())
		s.markDirty(tier, start)
		return
	}
	if !found {
		b := bucket{start: start, set: set, bins: slices.Clone(bins), noSketch: noSketch}
		td.buckets = slices.Insert(td.buckets, i, b)
		s.addBytes(b.size())
		s.markDirty(tier, start)
		return
	}
	b := &td.buckets[i]
	before := b.size()
	if sk == nil {
		sk = s.scratchSketch()
		defer sk.Clear()
		if err := decodeBins(bins, sk); err != nil {
			noSketch = true
		}
	}
	if err := decodeBins(b.bins, sk); err != nil {
		noSketch = true
	}
	b.set.merge(set)
	b.noSketch = b.noSketch || noSketch
	b.bins, s.binbuf = encodeBins(b.bins[:0:0], sk, s.binbuf)
	s.addBytes(b.size() - before)
	s.markDirty(tier, start)
}

func (s *series) markDirty(tier int, start int64) {
	if s.st.persist != nil {
		s.dirty = append(s.dirty, bucketRef{tier, start})
	}
}

// maintainLocked closes open periods that ended closeDelay ago, then rolls
// up or drops what has aged out of each tier.
func (s *series) maintainLocked(now int64, force bool) {
	for i := range s.open {
		ob := &s.open[i]
		if ob.used && (force || ob.start+s.st.tiers[ob.tier].period+s.st.closeDelay <= now) {
			s.closeLocked(ob)
		}
	}
	tiers := s.st.tiers
	for ti := range s.tiers {
		td := &s.tiers[ti]
		t := tiers[ti]
		coarse := t.period
		if ti+1 < len(tiers) {
			coarse = tiers[ti+1].period
		}
		cutoff := floorDiv(now-t.retention, coarse)
		if cutoff <= td.wm {
			continue
		}
		td.wm, td.wmDirty = cutoff, s.st.persist != nil
		n, _ := slices.BinarySearchFunc(td.buckets, cutoff, func(b bucket, t int64) int { return cmpInt(b.start, t) })
		old := td.buckets[:n:n]
		td.buckets = td.buckets[n:]
		for j := range old {
			s.addBytes(-old[j].size())
		}
		if ti+1 >= len(tiers) {
			continue
		}
		// Merge each coarse window of the aged buckets into the next tier.
		sk := s.scratchSketch()
		for j := 0; j < len(old); {
			w := floorDiv(old[j].start, coarse)
			var set StatSet
			noSketch := false
			for ; j < len(old) && floorDiv(old[j].start, coarse) == w; j++ {
				set.merge(old[j].set)
				noSketch = noSketch || old[j].noSketch
				if decodeBins(old[j].bins, sk) != nil {
					noSketch = true
				}
			}
			s.mergeClosedLocked(ti+1, w, set, sk, nil, noSketch)
			sk.Clear()
		}
	}
}

// bucketCounts adds the number of closed buckets per tier to counts.
func (s *series) bucketCounts(counts []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.tiers {
		counts[i] += len(s.tiers[i].buckets)
	}
	for i := range s.open {
		if s.open[i].used {
			counts[s.open[i].tier]++
		}
	}
}

func floorDiv(t, p int64) int64 {
	q := t / p
	if t%p != 0 && t < 0 {
		q--
	}
	return q * p
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
