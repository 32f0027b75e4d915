package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"holdfast/internal/metrics"
)

var (
	storeSeriesDesc   = prometheus.NewDesc("holdfast_metrics_store_series", "Series held by the metrics store.", nil, nil)
	storeBytesDesc    = prometheus.NewDesc("holdfast_metrics_store_bytes", "Approximate memory held by the metrics store.", nil, nil)
	storeLimitDesc    = prometheus.NewDesc("holdfast_metrics_store_max_bytes", "The metrics store's memory cap.", nil, nil)
	storeRejectedDesc = prometheus.NewDesc("holdfast_metrics_store_rejected_series_total", "New series refused by the metrics store's caps.", nil, nil)
	storeBucketsDesc  = prometheus.NewDesc("holdfast_metrics_store_buckets", "Periods held per tier (finest first).", []string{"tier"}, nil)
)

// StoreCollector reports the metrics store's size and caps on /metrics.
func StoreCollector(st *metrics.Store) prometheus.Collector { return storeCollector{st} }

type storeCollector struct{ st *metrics.Store }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeSeriesDesc, storeBytesDesc, storeLimitDesc, storeRejectedDesc, storeBucketsDesc} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(storeSeriesDesc, prometheus.GaugeValue, float64(s.Series))
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(s.ApproxBytes))
	ch <- prometheus.MustNewConstMetric(storeLimitDesc, prometheus.GaugeValue, float64(s.MaxBytes))
	ch <- prometheus.MustNewConstMetric(storeRejectedDesc, prometheus.CounterValue, float64(s.RejectedSeries))
	for i, n := range s.BucketsPerTier {
		ch <- prometheus.MustNewConstMetric(storeBucketsDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(i))
	}
}
