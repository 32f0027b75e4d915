package metrics

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Tier is one retention tier: data at Period granularity kept Retention.
type Tier struct {
	Period    time.Duration
	Retention time.Duration
}

// DefaultTiers are CloudWatch's: 1 s for 3 h, 60 s for 15 days, 5 min for
// 63 days, 1 h for 455 days.
var DefaultTiers = []Tier{
	{time.Second, 3 * time.Hour},
	{time.Minute, 15 * 24 * time.Hour},
	{5 * time.Minute, 63 * 24 * time.Hour},
	{time.Hour, 455 * 24 * time.Hour},
}

// Options configures a Store. The zero value is usable.
type Options struct {
	// Tiers, finest first; each period a whole number of seconds dividing
	// the next. Default DefaultTiers. Storage resolutions 1 and 60 need a
	// 1 s and a 60 s tier.
	Tiers []Tier
	// MaxSeries caps the number of series (default 100,000).
	MaxSeries int
	// MaxBytes caps the approximate memory held (default 512 MiB). Both caps
	// reject new series only; existing series keep accepting points.
	MaxBytes int64
	// CloseDelay is how long after its end an open period is closed
	// (default 2 s); points arriving later are merged into the closed period.
	CloseDelay time.Duration
	// FlushInterval is the period of the background maintenance and flush
	// (default 2 s); negative disables it (call Flush yourself).
	FlushInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives load and flush problems (default slog.Default()).
	Logger *slog.Logger
}

type tier struct{ period, retention int64 } // seconds

// Store is the metrics store. All methods are safe for concurrent use.
type Store struct {
	opts       Options
	tiers      []tier
	closeDelay int64
	now        func() time.Time
	log        *slog.Logger
	persist    *persister

	mu      sync.RWMutex // guards series and nextFID
	series  map[string]*series
	nextFID uint64

	bytes    atomic.Int64
	rejected atomic.Int64
	closed   atomic.Bool
	flushMu  sync.Mutex // serializes Flush and Close
	stop     chan struct{}
	done     chan struct{}
	report   LoadReport
}

// Open opens the store persisted in dir, creating it if needed; an empty
// dir keeps the store in memory only. A corrupt or truncated segment does
// not fail Open: the valid prefix is loaded and LoadReport tells what was
// lost.
func Open(dir string, opts Options) (*Store, error) {
	st, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		p, rep, err := openPersister(dir, st)
		if err != nil {
			return nil, err
		}
		st.persist, st.report = p, rep
		if rep.Err != nil {
			st.log.Warn("metrics segment damaged; kept the valid prefix", "dir", dir, "err", rep.Err, "valid_bytes", rep.ValidBytes, "file_bytes", rep.FileBytes)
		}
		st.maintain(false)
		if err := st.persist.compact(st); err != nil {
			return nil, err
		}
	}
	if st.opts.FlushInterval > 0 {
		st.stop, st.done = make(chan struct{}), make(chan struct{})
		go st.loop()
	}
	return st, nil
}

func newStore(opts Options) (*Store, error) {
	if opts.Tiers == nil {
		opts.Tiers = DefaultTiers
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = 100_000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 512 << 20
	}
	if opts.CloseDelay <= 0 {
		opts.CloseDelay = 2 * time.Second
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	st := &Store{opts: opts, now: opts.Now, log: opts.Logger, series: map[string]*series{}, nextFID: 1}
	st.closeDelay = int64((opts.CloseDelay + time.Second - 1) / time.Second)
	for i, t := range opts.Tiers {
		if t.Period < time.Second || t.Period%time.Second != 0 || t.Retention < t.Period {
			return nil, fmt.Errorf("metrics options: tiers[%d]: period must be a whole number of seconds and retention at least one period", i)
		}
		nt := tier{int64(t.Period / time.Second), int64(t.Retention / time.Second)}
		if i > 0 && nt.period%st.tiers[i-1].period != 0 {
			return nil, fmt.Errorf("metrics options: tiers[%d]: period %v is not a multiple of the previous tier's", i, t.Period)
		}
		st.tiers = append(st.tiers, nt)
	}
	if len(st.tiers) == 0 {
		return nil, fmt.Errorf("metrics options: no tiers")
	}
	return st, nil
}

// LoadReport describes what Open read from disk.
type LoadReport struct {
	Path       string
	FileBytes  int64
	ValidBytes int64 // length of the prefix that was loaded
	Frames     int
	Err        error // nil, or wraps ErrCorrupt with the offset and cause
}

// LoadReport returns what Open found in the segment file.
func (st *Store) LoadReport() LoadReport { return st.report }

func (st *Store) loop() {
	defer close(st.done)
	t := time.NewTicker(st.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			if err := st.Flush(); err != nil {
				st.log.Error("metrics flush", "err", err)
			}
		}
	}
}

// tierOf returns the index of the tier with the given period in seconds.
func (st *Store) tierOf(period int64) (int, bool) {
	for i, t := range st.tiers {
		if t.period == period {
			return i, true
		}
	}
	return 0, false
}

// lookup returns the series for id, creating it if create is set.
func (st *Store) lookup(id MetricID, create bool) (*series, error) {
	key := id.Key()
	st.mu.RLock()
	s := st.series[key]
	st.mu.RUnlock()
	if s != nil || !create {
		return s, nil
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.series[key]; s != nil {
		return s, nil
	}
	if len(st.series) >= st.opts.MaxSeries || st.bytes.Load()+seriesOverhead > st.opts.MaxBytes {
		st.rejected.Add(1)
		return nil, fmt.Errorf("%w (%d series, ~%d bytes; caps %d series, %d bytes): %s", ErrSeriesLimit, len(st.series), st.bytes.Load(), st.opts.MaxSeries, st.opts.MaxBytes, id)
	}
	s = newSeries(st, id.normalized(), key, st.nextFID)
	st.nextFID++
	st.series[key] = s
	return s, nil
}

// snapshot returns the series, sorted by key.
func (st *Store) snapshot() []*series {
	st.mu.RLock()
	out := make([]*series, 0, len(st.series))
	for _, s := range st.series {
		out = append(out, s)
	}
	st.mu.RUnlock()
	slices.SortFunc(out, func(a, b *series) int { return strings.Compare(a.key, b.key) })
	return out
}

// maintain closes due periods, rolls up and drops aged data, and forgets
// series left empty with no handle.
func (st *Store) maintain(force bool) {
	now := st.now().Unix()
	for _, s := range st.snapshot() {
		s.mu.Lock()
		s.maintainLocked(now, force)
		empty := s.handles.Load() == 0 && len(s.dirty) == 0
		for i := range s.tiers {
			empty = empty && len(s.tiers[i].buckets) == 0 && !s.tiers[i].wmDirty
		}
		for i := range s.open {
			empty = empty && !s.open[i].used
		}
		s.mu.Unlock()
		if empty {
			st.mu.Lock()
			if st.series[s.key] == s && s.handles.Load() == 0 {
				delete(st.series, s.key)
				s.mu.Lock()
				s.addBytes(-s.bytes)
				s.mu.Unlock()
			}
			st.mu.Unlock()
		}
	}
}

// Flush closes the periods that are due, applies rollups and retention,
// and writes what changed to disk.
func (st *Store) Flush() error {
	if st.closed.Load() {
		return ErrClosed
	}
	return st.flush(false)
}

func (st *Store) flush(force bool) error {
	st.flushMu.Lock()
	defer st.flushMu.Unlock()
	st.maintain(force)
	if st.persist == nil {
		return nil
	}
	return st.persist.flush(st)
}

// Close closes every open period, flushes and closes the files. Close is
// idempotent.
func (st *Store) Close() error {
	if !st.closed.CompareAndSwap(false, true) {
		return nil
	}
	if st.stop != nil {
		close(st.stop)
		<-st.done
	}
	err := st.flush(true)
	if st.persist != nil {
		if cerr := st.persist.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Stats describes the size of the store.
type Stats struct {
	Series         int
	BucketsPerTier []int // closed and open periods, finest tier first
	ApproxBytes    int64
	RejectedSeries int64 // series refused because of a cap
	MaxSeries      int
	MaxBytes       int64
}

// Stats reports the series count, buckets per tier and approximate memory.
func (st *Store) Stats() Stats {
	ss := st.snapshot()
	out := Stats{Series: len(ss), BucketsPerTier: make([]int, len(st.tiers)),
		RejectedSeries: st.rejected.Load(), MaxSeries: st.opts.MaxSeries, MaxBytes: st.opts.MaxBytes}
	for _, s := range ss {
		s.bucketCounts(out.BucketsPerTier)
	}
	out.ApproxBytes = st.bytes.Load()
	return out
}

// ListMetrics lists the metrics of a namespace ("" for all) whose name
// contains nameFilter ("" for all), sorted by canonical key.
func (st *Store) ListMetrics(namespace, nameFilter string) []MetricID {
	var out []MetricID
	for _, s := range st.snapshot() {
		if (namespace == "" || s.id.Namespace == namespace) && strings.Contains(s.id.Name, nameFilter) {
			out = append(out, s.id.normalized())
		}
	}
	return out
}
