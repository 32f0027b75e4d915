package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/metrics"
	"holdfast/internal/monitor"
)

// MetricsStore is what the API needs of the metrics store.
type MetricsStore interface {
	PutMetricData(in metrics.PutMetricDataInput) error
	GetMetricData(in metrics.GetMetricDataInput) (metrics.GetMetricDataOutput, error)
	ListMetrics(namespace, nameFilter string) []metrics.MetricID
}

var _ MetricsStore = (*metrics.Store)(nil)

// Alarms is what the API needs of the alarm monitor.
type Alarms interface {
	Manager() *alarm.Manager
	Definition(name string) (json.RawMessage, bool)
}

var _ Alarms = (*monitor.Monitor)(nil)

func (s *Server) registerMetrics(mux *http.ServeMux) {
	if s.Store != nil {
		mux.Handle("PUT /api/v1/metrics", s.auth(s.putMetrics))
		mux.Handle("POST /api/v1/metrics/data", s.auth(s.getMetricData))
		mux.Handle("GET /api/v1/metrics", s.auth(s.listMetrics))
	}
	if s.Alarms != nil {
		mux.Handle("GET /api/v1/alarms", s.auth(s.listAlarms))
		mux.Handle("GET /api/v1/alarms/{name}", s.auth(s.describeAlarm))
		mux.Handle("GET /api/v1/alarms/{name}/history", s.auth(s.alarmHistory))
		mux.Handle("PUT /api/v1/alarms/{name}/state", s.auth(s.setAlarmState))
	}
}

// putMetrics is PutMetricData: the whole call is stored, or nothing when
// any datum is invalid (NaN and infinite values included).
func (s *Server) putMetrics(w http.ResponseWriter, r *http.Request) {
	var in metrics.PutMetricDataInput
	if !decodeBody(w, r, &in) {
		return
	}
	if err := s.Store.PutMetricData(in); err != nil {
		writeError(w, http.StatusBadRequest, "nothing stored: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"stored": len(in.MetricData)})
}

func (s *Server) getMetricData(w http.ResponseWriter, r *http.Request) {
	var in metrics.GetMetricDataInput
	if !decodeBody(w, r, &in) {
		return
	}
	out, err := s.Store.GetMetricData(in)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if out.MetricDataResults == nil {
		out.MetricDataResults = []metrics.MetricDataResult{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listMetrics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := s.Store.ListMetrics(q.Get("namespace"), q.Get("name"))
	out := make([]metrics.MetricJSON, len(ids))
	for i, id := range ids {
		out[i] = metrics.MetricJSON{Namespace: id.Namespace, MetricName: id.Name, Dimensions: id.Dimensions}
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": out})
}

func (s *Server) listAlarms(w http.ResponseWriter, r *http.Request) {
	list := s.Alarms.Manager().List()
	if list == nil {
		list = []alarm.Status{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarms": list})
}

func (s *Server) describeAlarm(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := s.Alarms.Manager().Status(name)
	if err != nil {
		writeAlarmError(w, err)
		return
	}
	def, _ := s.Alarms.Definition(name)
	writeJSON(w, http.StatusOK, map[string]any{"status": st, "definition": def})
}

func (s *Server) alarmHistory(w http.ResponseWriter, r *http.Request) {
	h, err := s.Alarms.Manager().History(r.PathValue("name"))
	if err != nil {
		writeAlarmError(w, err)
		return
	}
	if h == nil {
		h = []alarm.HistoryItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"history": h})
}

// SetAlarmStateRequest is the body of PUT /api/v1/alarms/{name}/state, as
// CloudWatch's SetAlarmState: the next evaluation recomputes the state.
type SetAlarmStateRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
}

func (s *Server) setAlarmState(w http.ResponseWriter, r *http.Request) {
	var req SetAlarmStateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	st, err := alarm.ParseState(req.State)
	if err != nil {
		writeError(w, http.StatusBadRequest, `body: field "state": `+err.Error())
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		writeError(w, http.StatusBadRequest, `body: field "reason" is required`)
		return
	}
	name := r.PathValue("name")
	if err := s.Alarms.Manager().SetState(name, st, req.Reason+" (set by "+actor(r)+")", time.Now()); err != nil {
		writeAlarmError(w, err)
		return
	}
	status, err := s.Alarms.Manager().Status(name)
	if err != nil {
		writeAlarmError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status})
}

func writeAlarmError(w http.ResponseWriter, err error) {
	if errors.Is(err, alarm.ErrUnknownAlarm) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}
