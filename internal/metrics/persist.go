package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// SegmentFile is the name of the segment file in the store's directory.
const SegmentFile = "metrics.seg"

// persister appends frames to the segment file and rewrites it (compacts)
// when it has grown to twice the live data.
type persister struct {
	dir, path string
	f         *os.File
	size      int64
	liveSize  int64 // size right after the last compaction
	buf       []byte
}

func openPersister(dir string, st *Store) (*persister, LoadReport, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, LoadReport{}, fmt.Errorf("metrics store: %w", err)
	}
	p := &persister{dir: dir, path: filepath.Join(dir, SegmentFile)}
	rep := LoadReport{Path: p.path}
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, rep, nil
	}
	if err != nil {
		return nil, rep, fmt.Errorf("metrics store: read %s: %w", p.path, err)
	}
	rep.FileBytes = int64(len(data))
	byFID := map[uint64]*series{}
	rep.ValidBytes, rep.Frames, rep.Err = decodeSegment(data, func(recs []record) { st.applyRecords(byFID, recs) })
	if rep.Err != nil {
		rep.Err = fmt.Errorf("%s: %w", p.path, rep.Err)
	}
	return p, rep, nil
}

// applyRecords replays the records of one frame. Series loaded from disk
// are not subject to the caps.
func (st *Store) applyRecords(byFID map[uint64]*series, recs []record) {
	for i := range recs {
		rec := &recs[i]
		if rec.typ == recSeries {
			key := rec.id.Key()
			s := st.series[key]
			if s == nil {
				s = newSeries(st, rec.id.normalized(), key, rec.fid)
				st.series[key] = s
			}
			s.unit = rec.unit
			byFID[rec.fid] = s
			st.nextFID = max(st.nextFID, rec.fid+1)
			continue
		}
		s := byFID[rec.fid]
		ti, ok := st.tierOf(rec.period)
		if s == nil || !ok {
			continue // unknown series, or a tier no longer configured
		}
		td := &s.tiers[ti]
		if rec.typ == recWatermark {
			if rec.t > td.wm {
				td.wm = rec.t
				n, _ := slices.BinarySearchFunc(td.buckets, rec.t, func(b bucket, t int64) int { return cmpInt(b.start, t) })
				for j := range td.buckets[:n] {
					s.addBytes(-td.buckets[j].size())
				}
				td.buckets = slices.Delete(td.buckets, 0, n)
			}
			continue
		}
		if rec.t < td.wm {
			continue
		}
		j, found := slices.BinarySearchFunc(td.buckets, rec.t, func(b bucket, t int64) int { return cmpInt(b.start, t) })
		if found {
			s.addBytes(rec.b.size() - td.buckets[j].size())
			td.buckets[j] = rec.b
		} else {
			s.addBytes(rec.b.size())
			td.buckets = slices.Insert(td.buckets, j, rec.b)
		}
	}
}

// flush appends one frame per changed series, then syncs; it compacts
// when the file has grown to twice its size after the last compaction.
func (p *persister) flush(st *Store) error {
	if p.f == nil {
		return p.compact(st)
	}
	p.buf = p.buf[:0]
	var payload []byte
	for _, s := range st.snapshot() {
		s.mu.Lock()
		payload = s.appendChangesLocked(payload[:0], st)
		s.mu.Unlock()
		if len(payload) > 0 {
			p.buf = appendFrame(p.buf, payload)
		}
	}
	if len(p.buf) > 0 {
		if _, err := p.f.Write(p.buf); err != nil {
			return fmt.Errorf("metrics store: write %s: %w", p.path, err)
		}
		if err := p.f.Sync(); err != nil {
			return fmt.Errorf("metrics store: sync %s: %w", p.path, err)
		}
		p.size += int64(len(p.buf))
	}
	if p.size > 2*p.liveSize+1<<20 {
		return p.compact(st)
	}
	return nil
}

// appendChangesLocked appends the records for what changed in s since the
// last flush: its series record if new, watermarks, changed buckets and a
// snapshot of its open periods (merged with their closed part, if any).
func (s *series) appendChangesLocked(dst []byte, st *Store) []byte {
	open := false
	for i := range s.open {
		open = open || s.open[i].used
	}
	if s.persisted && len(s.dirty) == 0 && !open && !s.anyWMDirty() {
		return dst
	}
	if !s.persisted {
		dst = appendSeriesRecord(dst, s.fid, s.id, s.unit)
		s.persisted = true
	}
	for ti := range s.tiers {
		if td := &s.tiers[ti]; td.wmDirty {
			dst = appendWatermarkRecord(dst, s.fid, st.tiers[ti].period, td.wm)
			td.wmDirty = false
		}
	}
	slices.SortFunc(s.dirty, func(a, b bucketRef) int {
		if a.tier != b.tier {
			return a.tier - b.tier
		}
		return cmpInt(a.start, b.start)
	})
	s.dirty = slices.Compact(s.dirty)
	for _, ref := range s.dirty {
		if b := s.findLocked(ref.tier, ref.start); b != nil {
			dst = appendBucketRecord(dst, s.fid, st.tiers[ref.tier].period, b)
		}
	}
	s.dirty = s.dirty[:0]
	for i := range s.open {
		ob := &s.open[i]
		if !ob.used {
			continue
		}
		sk := s.scratchSketch()
		ob.settle()
		b := bucket{start: ob.start, set: ob.set, noSketch: ob.noSketch}
		if old := s.findLocked(ob.tier, ob.start); old != nil {
			b.set.merge(old.set)
			b.noSketch = b.noSketch || old.noSketch
			if decodeBins(old.bins, sk) != nil {
				b.noSketch = true
			}
		}
		if sk.MergeWith(ob.sk) != nil {
			b.noSketch = true
		}
		b.bins, s.binbuf = encodeBins(nil, sk, s.binbuf)
		sk.Clear()
		dst = appendBucketRecord(dst, s.fid, st.tiers[ob.tier].period, &b)
	}
	return dst
}

func (s *series) anyWMDirty() bool {
	for i := range s.tiers {
		if s.tiers[i].wmDirty {
			return true
		}
	}
	return false
}

func (s *series) findLocked(tier int, start int64) *bucket {
	td := &s.tiers[tier]
	i, found := slices.BinarySearchFunc(td.buckets, start, func(b bucket, t int64) int { return cmpInt(b.start, t) })
	if !found {
		return nil
	}
	return &td.buckets[i]
}

// compact writes the whole state to a temporary file and renames it over
// the segment, then reopens it for appending.
func (p *persister) compact(st *Store) error {
	buf := appendHeader(nil)
	var payload []byte
	for _, s := range st.snapshot() {
		s.mu.Lock()
		s.persisted, s.dirty = false, s.dirty[:0]
		for ti := range s.tiers {
			s.tiers[ti].wmDirty = s.tiers[ti].wm != minWM
		}
		payload = s.appendChangesLocked(payload[:0], st)
		for ti := range s.tiers {
			td := &s.tiers[ti]
			for j := range td.buckets {
				if !s.isOpenLocked(ti, td.buckets[j].start) {
					payload = appendBucketRecord(payload, s.fid, st.tiers[ti].period, &td.buckets[j])
				}
			}
		}
		s.mu.Unlock()
		buf = appendFrame(buf, payload)
	}
	tmp := p.path + ".tmp"
	if err := writeSync(tmp, buf); err != nil {
		return fmt.Errorf("metrics store: compact: %w", err)
	}
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fmt.Errorf("metrics store: compact: %w", err)
	}
	if d, err := os.Open(p.dir); err == nil {
		d.Sync()
		d.Close()
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("metrics store: %w", err)
	}
	p.f, p.size, p.liveSize = f, int64(len(buf)), int64(len(buf))
	return nil
}

func writeSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (p *persister) close() error {
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}
