package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"holdfast/internal/alarm"
)

var alarmStateDesc = prometheus.NewDesc("holdfast_alarm_state",
	"1 for the alarm's current state (OK, ALARM or INSUFFICIENT_DATA), 0 for the others.",
	[]string{"alarm", "state"}, nil)

var allStates = []alarm.State{alarm.StateOK, alarm.StateAlarm, alarm.StateInsufficientData}

// Collector exports every alarm's state on /metrics.
func (m *Monitor) Collector() prometheus.Collector { return stateCollector{m} }

type stateCollector struct{ m *Monitor }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- alarmStateDesc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.m.mgr.List() {
		for _, st := range allStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(alarmStateDesc, prometheus.GaugeValue, v, s.Name, string(st))
		}
	}
}
