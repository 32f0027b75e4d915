package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func fillForPersist(t *testing.T, st *Store, c *clock) time.Time {
	t.Helper()
	t0 := c.Now().Truncate(time.Minute)
	h, err := st.Handle(testID, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		h.Add(t0.Add(time.Duration(i)*time.Second), float64(i%17)+0.5)
	}
	other := MetricID{Namespace: "holdfast/gateway", Name: "Errors", Dimensions: []Dimension{{"route", "orders"}}}
	if err := st.Put([]Datum{{MetricID: other, Timestamp: t0, Values: []float64{1, 2, 3}, Unit: "Count"},
		{MetricID: other, Timestamp: t0.Add(time.Minute), StatisticValues: &StatSet{3, 9, 1, 5}}}); err != nil {
		t.Fatal(err)
	}
	c.Advance(2*time.Minute + 10*time.Second)
	return t0
}

func answers(t *testing.T, st *Store, t0 time.Time) map[string][]Point {
	t.Helper()
	out := map[string][]Point{}
	for _, id := range st.ListMetrics("", "") {
		for _, stat := range []string{"Sum", "SampleCount", "Minimum", "Maximum", "p99", "tm90"} {
			for _, p := range []time.Duration{time.Second, time.Minute} {
				s, err := st.Query(MetricStatQuery{Metric: id, Period: p, Stat: stat, Start: t0, End: t0.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				out[id.String()+" "+stat+" "+p.String()] = s.Points
			}
		}
	}
	return out
}

func TestPersistRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	st := openTest(t, dir, c, Options{})
	t0 := fillForPersist(t, st, c)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	// A point in a still-open period is flushed too.
	h, _ := st.Handle(testID, 1)
	h.Add(c.Now(), 1000)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	want := answers(t, st, t0)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	st2 := openTest(t, dir, c, Options{})
	if rep := st2.LoadReport(); rep.Err != nil || rep.Frames == 0 {
		t.Fatalf("LoadReport = %+v", rep)
	}
	got := answers(t, st2, t0)
	if len(got) != 24 || !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen:\n got %v\nwant %v", got, want)
	}
	// Without Close: what Flush wrote survives a crash.
	h2, _ := st2.Handle(testID, 1)
	h2.Add(c.Now(), 5)
	st2.Flush()
	want2 := answers(t, st2, t0)
	st3 := openTest(t, dir, c, Options{}) // st2 never closed
	if got := answers(t, st3, t0); !reflect.DeepEqual(got, want2) {
		t.Errorf("after crash:\n got %v\nwant %v", got, want2)
	}
}

func TestPersistTruncated(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	st := openTest(t, dir, c, Options{})
	t0 := fillForPersist(t, st, c)
	st.Flush()
	want := answers(t, st, t0)
	c.Advance(time.Second)
	h, _ := st.Handle(testID, 1)
	h.Add(c.Now(), 1e6) // written only by Close, in the last frame, which we cut
	st.Close()
	path := filepath.Join(dir, SegmentFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Truncate inside the last frame: the store is compacted on open, so the
	// file holds the snapshot frames plus the ones appended since.
	if err := os.Truncate(path, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	st2 := openTest(t, dir, c, Options{})
	rep := st2.LoadReport()
	if !errors.Is(rep.Err, ErrCorrupt) || rep.ValidBytes == 0 || rep.ValidBytes >= rep.FileBytes {
		t.Fatalf("LoadReport = %+v, want ErrCorrupt with a valid prefix", rep)
	}
	if got := answers(t, st2, t0); !reflect.DeepEqual(got, want) {
		t.Errorf("valid prefix: answers differ (%d vs %d series·stats)", len(got), len(want))
	}
	st2.Close()
	// The damaged tail was rewritten away: the next open is clean.
	st3 := openTest(t, dir, c, Options{})
	if rep := st3.LoadReport(); rep.Err != nil {
		t.Errorf("after recovery: %v", rep.Err)
	}
}

func TestPersistCorruptHeader(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SegmentFile), []byte("HFMETRIC\x02\x00\x00\x00xxxx"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := openTest(t, dir, newClock(), Options{})
	if rep := st.LoadReport(); !errors.Is(rep.Err, ErrCorrupt) || rep.ValidBytes != 0 {
		t.Errorf("LoadReport = %+v", rep)
	}
}

func FuzzDecodeSegment(f *testing.F) {
	c := newClock()
	st, _ := Open("", Options{Now: c.Now, FlushInterval: -1})
	h, _ := st.Handle(testID, 1)
	h.Add(c.Now(), 3)
	seg := appendHeader(nil)
	payload := appendSeriesRecord(nil, 1, testID, "ms")
	payload = appendWatermarkRecord(payload, 1, 60, 120)
	sk := newSketch()
	sk.Add(3)
	sk.Add(-2)
	bins, _ := encodeBins(nil, sk, nil)
	payload = appendBucketRecord(payload, 1, 1, &bucket{start: 1000, set: StatSet{2, 1, -2, 3}, bins: bins})
	seg = appendFrame(seg, payload)
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add(payload)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whole segments, and payloads as if their checksum had matched.
		decodeSegment(data, func([]record) {})
		if recs, err := decodeRecords(data); err == nil {
			st := &Store{tiers: []tier{{1, 10}, {60, 100}}, series: map[string]*series{}}
			st.applyRecords(map[uint64]*series{}, recs)
		}
		decodeBins(data, newSketch())
	})
}
