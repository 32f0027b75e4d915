// Package metrics is holdfast's metrics store, shaped like CloudWatch.
//
// A metric is a namespace, a name and up to 30 dimensions (MetricID); its
// canonical key sorts the dimensions by name. Points are aggregated per
// period into a statistic set (SampleCount, Sum, Minimum, Maximum) and a
// DDSketch (relative accuracy 1%, RelativeAccuracy), so percentiles pNN and
// trimmed statistics (tmNN, TM(a%:b%), TM(a:b), IQM, WM, TC, TS, PR) can be
// asked of any period and of any merge of periods or metrics (Aggregate).
// Percentiles are clamped to the exact Minimum and Maximum; p0 and p100 are
// exact. Trimmed statistics are computed from the sketch bins and are
// approximations within about the sketch accuracy. Unlike CloudWatch,
// negative values keep their percentiles.
//
// # Ingest
//
// Put takes PutMetricData-shaped data (Datum): a Value, Values with
// Counts, or a pre-aggregated StatisticValues. A period that received a
// statistic set whose Minimum differs from its Maximum has no sketch:
// percentile and trimmed statistics are absent for it (and for any merge
// that includes it); a set with equal Minimum and Maximum keeps them. Put
// is atomic: if any datum is invalid (NaN or infinite value, timestamp more
// than 2 h ahead or older than the retention of its resolution, bad
// identifier, malformed counts) nothing is stored and a *DatumError names
// the index and field. StorageResolution 1 stores 1 s periods, 60 (or 0)
// 60 s periods.
//
// The hot path is a Handle, resolved once with Store.Handle: Handle.Add
// takes the series mutex, updates the open period's statistic set and
// sketch, and does not allocate in steady state. Up to four periods per
// series are open at once, so requests straddling a period boundary do not
// contend on a closed period; a period is closed Options.CloseDelay after
// its end, and later points are merged into the closed period.
//
// # Tiers
//
// Options.Tiers (default DefaultTiers, CloudWatch's: 1 s for 3 h, 60 s for
// 15 days, 5 min for 63 days, 1 h for 455 days) are retention tiers. When a
// tier's data ages past its retention it is rolled up, a whole window of
// the next tier's period at a time, into the next tier (statistic sets and
// sketches merged), so a datum lives in exactly one tier; past the last
// tier it is dropped. Data is thus kept at a tier's period for at least its
// retention and at most one next-tier period longer.
//
// # Queries
//
// Query (GetMetricData's MetricStat) and Aggregate answer periods of 1, 5,
// 10, 20, 30 s or a multiple of 60 s, using every tier whose period
// divides the query period: data that has already aged into a coarser tier
// is absent at finer periods, as CloudWatch. Points are returned only for
// periods with data, by ascending time. The metric must match exactly.
//
// # Memory
//
// Options.MaxSeries and Options.MaxBytes cap the store: beyond them new
// series are refused with ErrSeriesLimit (counted in Stats), existing
// series are never touched. Closed periods hold the sketch in a compact
// encoding (a few bytes per bin); Stats reports series, periods per tier
// and an approximate byte count. A series with no data left and no Handle
// is forgotten.
//
// # Persistence
//
// Open(dir) keeps the store in dir/metrics.seg, an append-only file of
// checksummed frames (format in segment.go). Every Options.FlushInterval
// (and on Flush and Close) the changed periods of each series, including
// snapshots of the open ones, are appended as one frame per series, so a
// crash loses at most one flush interval. The file is rewritten (compacted)
// on Open and when it grows to twice its live size. A truncated or corrupt
// tail is detected on Open: the valid prefix is loaded, LoadReport tells
// what was lost, and the damaged tail is rewritten away.
//
// The clock is Options.Now; nothing but the default reads the wall clock.
package metrics
