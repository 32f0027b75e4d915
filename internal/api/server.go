// Package api is holdfast's admin HTTP API: JSON over HTTP under /api/v1,
// every call authenticated with a bearer token. The CLI and the dashboard
// speak only this API.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/state"
)

// ActorHeader names who is acting; the CLI sends user@host. The ledger
// records it beside the fact that the admin token was used.
const ActorHeader = "X-Holdfast-Actor"

// Flags is what the API needs of the flag service.
type Flags interface {
	List() []state.Flag
	Get(name string) (state.Flag, error)
	Set(ctx context.Context, name string, enabled bool, actor, reason string) (state.Flag, state.Change, error)
}

var _ Flags = (*flags.Service)(nil)

// Ledger lists changes.
type Ledger interface {
	Changes(ctx context.Context, q state.ChangeQuery) ([]state.Change, error)
}

// Server is the admin API handler.
type Server struct {
	Token   string
	Flags   Flags
	Ledger  Ledger
	Reload  func(ctx context.Context, actor, reason string) error
	Status  func() any
	Metrics http.Handler // served at /metrics, token required
	Store   MetricsStore // the metrics store (PutMetricData, GetMetricData); nil = no endpoints
	Alarms  Alarms       // the alarm monitor; nil = no endpoints
	Logger  *slog.Logger

	// FlagStore is the versioned flag service (deployments, OFREP); nil = no endpoints.
	FlagStore FlagStore
	// Rollouts are the daemon's canary rollouts (rollout.go); nil = no endpoints.
	Rollouts Rollouts

	mux *http.ServeMux
}

// Handler returns the routed, authenticated handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /api/v1/status", s.auth(s.status))
	mux.Handle("GET /api/v1/flags", s.auth(s.listFlags))
	mux.Handle("GET /api/v1/flags/{name}", s.auth(s.getFlag))
	mux.Handle("PUT /api/v1/flags/{name}", s.auth(s.setFlag))
	mux.Handle("GET /api/v1/changes", s.auth(s.changes))
	mux.Handle("POST /api/v1/reload", s.auth(s.reload))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.auth(s.Metrics.ServeHTTP))
	}
	s.registerMetrics(mux)
	s.registerFlagStore(mux)
	s.registerRollouts(mux)
	// Profiles for diagnosing the daemon itself, behind the token too.
	mux.Handle("GET /debug/pprof/", s.auth(pprof.Index))
	mux.Handle("GET /debug/pprof/profile", s.auth(pprof.Profile))
	mux.Handle("GET /debug/pprof/trace", s.auth(pprof.Trace))
	mux.Handle("/api/", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s %s", r.Method, r.URL.Path))
	}))
	s.mux = mux
	return mux
}

func (s *Server) auth(next http.HandlerFunc) http.Handler {
	want := []byte("Bearer " + s.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.Token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token; pass --token, set HOLDFAST_TOKEN or use the token file in the data directory")
			return
		}
		next(w, r)
	})
}

func actor(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get(ActorHeader))
	if a == "" || len(a) > 128 {
		a = "admin-api"
	}
	return a + " (token)"
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.Status == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, s.Status())
}

func (s *Server) listFlags(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"flags": s.Flags.List()})
}

func (s *Server) getFlag(w http.ResponseWriter, r *http.Request) {
	f, err := s.Flags.Get(r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// SetFlagRequest is the body of PUT /api/v1/flags/{name}.
type SetFlagRequest struct {
	Enabled *bool  `json:"enabled"`
	Reason  string `json:"reason"`
	// Strategy, when set, makes the flip a monitored deployment with this
	// predefined strategy instead of an instant, unmonitored one.
	Strategy string `json:"strategy,omitempty"`
}

// SetFlagResponse answers PUT /api/v1/flags/{name}.
type SetFlagResponse struct {
	Flag   state.Flag   `json:"flag"`
	Change state.Change `json:"change"`
}

func (s *Server) setFlag(w http.ResponseWriter, r *http.Request) {
	var req SetFlagRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Enabled == nil {
		writeError(w, http.StatusBadRequest, `body: field "enabled" is required (true or false)`)
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		writeError(w, http.StatusBadRequest, `body: field "reason" is required: say why, it goes into the change ledger`)
		return
	}
	if req.Strategy != "" {
		s.setFlagWithStrategy(w, r, &req)
		return
	}
	f, c, err := s.Flags.Set(r.Context(), r.PathValue("name"), *req.Enabled, actor(r), req.Reason)
	switch {
	case errors.Is(err, flags.ErrUnknownFlag):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.Logger.Error("set flag failed", "flag", r.PathValue("name"), "err", err)
		writeError(w, http.StatusServiceUnavailable, "state store unavailable, nothing changed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, SetFlagResponse{Flag: f, Change: c})
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request) {
	q := state.ChangeQuery{Kind: r.URL.Query().Get("kind"), Subject: r.URL.Query().Get("subject")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter limit: want a number from 1 to 10000, got %q", v))
			return
		}
		q.Limit = n
	}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter since: want an RFC 3339 time like 2026-01-02T15:04:05Z, got %q", v))
			return
		}
		q.Since = t
	}
	list, err := s.Ledger.Changes(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state store unavailable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": list})
}

// ReloadRequest is the optional body of POST /api/v1/reload.
type ReloadRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	var req ReloadRequest
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	if s.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available")
		return
	}
	err := s.Reload(r.Context(), actor(r), req.Reason)
	var cerr *config.Errors
	switch {
	case errors.As(err, &cerr):
		problems := make([]string, len(cerr.Problems))
		for i, p := range cerr.Problems {
			problems[i] = p.String()
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":    "new config rejected; the running config is unchanged",
			"problems": problems,
		})
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, "reload failed; the running config is unchanged: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{"reloaded": true})
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+describeJSONError(err))
		return false
	}
	return true
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want %s, got %s (byte %d)", te.Field, te.Type, te.Value, te.Offset)
	case errors.Is(err, io.EOF):
		return "empty; send a JSON object"
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
