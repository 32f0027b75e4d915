package metrics

import (
	"fmt"
	"math"
	"time"
)

// maxFuture is how far ahead of the clock a timestamp may be.
const maxFuture = 2 * 60 * 60

// Handle records points into one series at one storage resolution. Resolve
// it once (Store.Handle) and call Add on the hot path: Add takes the
// series' mutex, does not allocate in steady state, and reads the clock
// only when a point opens a new period.
type Handle struct {
	s      *series
	tier   int
	period int64
}

// Handle returns a handle on the metric id at storageResolution 1 (high
// resolution) or 60 (standard), creating the series if needed. It fails
// when id is invalid or a cap forbids a new series. While a handle exists
// its series is kept even when all its data has aged out.
func (st *Store) Handle(id MetricID, storageResolution int) (*Handle, error) {
	if st.closed.Load() {
		return nil, ErrClosed
	}
	ti, err := st.resolutionTier(storageResolution)
	if err != nil {
		return nil, err
	}
	s, err := st.lookup(id, true)
	if err != nil {
		return nil, err
	}
	s.handles.Add(1)
	return &Handle{s: s, tier: ti, period: st.tiers[ti].period}, nil
}

func (st *Store) resolutionTier(res int) (int, error) {
	if res == 0 {
		res = 60
	}
	if res != 1 && res != 60 {
		return 0, fmt.Errorf("%w: StorageResolution %d; use 1 (high resolution) or 60 (standard)", ErrInvalidDatum, res)
	}
	ti, ok := st.tierOf(int64(res))
	if !ok {
		return 0, fmt.Errorf("%w: StorageResolution %d has no %d s tier in the store options", ErrInvalidDatum, res, res)
	}
	return ti, nil
}

// ID returns the metric of the handle.
func (h *Handle) ID() MetricID { return h.s.id }

// Add records value v at time t. It returns ErrInvalidValue for NaN or
// infinite values and ErrTimestamp for times older than the retention of
// the handle's resolution or more than 2 h ahead of the store's clock.
func (h *Handle) Add(t time.Time, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ErrInvalidValue
	}
	start := floorDiv(t.Unix(), h.period)
	s := h.s
	s.mu.Lock()
	if !s.isOpenLocked(h.tier, start) {
		if err := s.st.checkTime(h.tier, t.Unix()); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.addLocked(h.tier, start, v, 1, nil)
	s.mu.Unlock()
	return nil
}

func (s *series) isOpenLocked(tier int, start int64) bool {
	for i := range s.open {
		if ob := &s.open[i]; ob.used && ob.start == start && ob.tier == tier {
			return true
		}
	}
	return false
}

// checkTime validates a timestamp (unix seconds) for the tier.
func (st *Store) checkTime(tier int, sec int64) error {
	now := st.now().Unix()
	if sec > now+maxFuture {
		return fmt.Errorf("%w: %s is more than 2 hours in the future", ErrTimestamp, time.Unix(sec, 0).UTC().Format(time.RFC3339))
	}
	if sec < now-st.tiers[tier].retention {
		return fmt.Errorf("%w: %s is older than the %v retention of %d-second data", ErrTimestamp,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), time.Duration(st.tiers[tier].retention)*time.Second, st.tiers[tier].period)
	}
	return nil
}

// Release tells the store the handle is no longer used, so its series may
// be forgotten once its data has aged out. The handle must not be used after.
func (h *Handle) Release() { h.s.handles.Add(-1) }
