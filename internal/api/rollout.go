package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"holdfast/internal/rollout"
	"holdfast/internal/state"
)

// Rollouts is what the API needs of the daemon's rollouts.
type Rollouts interface {
	// StartRollout checks everything (route, strategy, candidate health,
	// hooks) before any traffic moves; on error nothing changed.
	StartRollout(ctx context.Context, route string, req RolloutStartRequest, actor string) (rollout.Status, error)
	Rollout(route string) (rollout.Status, error)
	Rollouts() []rollout.Status
	// RolloutAction is abort, pause, resume or promote.
	RolloutAction(ctx context.Context, route, action, actor, reason string) (rollout.Status, error)
}

// RolloutStartRequest is the body of POST /api/v1/rollouts/{route}.
type RolloutStartRequest struct {
	// Candidate is an upstream name or an http(s) URL.
	Candidate string `json:"candidate"`
	// Strategy is a strategy name or spec; "" uses the route's default.
	Strategy string `json:"strategy,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// RolloutActionRequest is the body of POST /api/v1/rollouts/{route}/{action}.
type RolloutActionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Rollout actions.
const (
	RolloutAbort   = "abort"
	RolloutPause   = "pause"
	RolloutResume  = "resume"
	RolloutPromote = "promote"
)

func (s *Server) registerRollouts(mux *http.ServeMux) {
	if s.Rollouts == nil {
		return
	}
	mux.Handle("GET /api/v1/rollouts", s.auth(s.listRollouts))
	mux.Handle("GET /api/v1/rollouts/{route}", s.auth(s.getRollout))
	mux.Handle("POST /api/v1/rollouts/{route}", s.auth(s.startRollout))
	mux.Handle("GET /api/v1/rollouts/{route}/history", s.auth(s.rolloutHistory))
	mux.Handle("POST /api/v1/rollouts/{route}/{action}", s.auth(s.rolloutAction))
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": s.Rollouts.Rollouts()})
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) {
	st, err := s.Rollouts.Rollout(r.PathValue("route"))
	if err != nil {
		writeRolloutError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) startRollout(w http.ResponseWriter, r *http.Request) {
	var req RolloutStartRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Candidate) == "" {
		writeError(w, http.StatusBadRequest, `body: field "candidate" is required: an upstream name or an http:// URL`)
		return
	}
	st, err := s.Rollouts.StartRollout(r.Context(), r.PathValue("route"), req, actor(r))
	if err != nil {
		writeRolloutError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) rolloutAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	switch action {
	case RolloutAbort, RolloutPause, RolloutResume, RolloutPromote:
	default:
		writeError(w, http.StatusNotFound, "no rollout action "+strconv.Quote(action)+"; use abort, pause, resume or promote")
		return
	}
	var req RolloutActionRequest
	if r.ContentLength != 0 && !decodeBody(w, r, &req) {
		return
	}
	st, err := s.Rollouts.RolloutAction(r.Context(), r.PathValue("route"), action, actor(r), req.Reason)
	if err != nil {
		writeRolloutError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// rolloutHistory is the route's rollout entries of the change ledger,
// newest first: every rollout, not only the latest.
func (s *Server) rolloutHistory(w http.ResponseWriter, r *http.Request) {
	q := state.ChangeQuery{Kind: rollout.LedgerKind, Subject: r.PathValue("route"), Limit: 200}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "query parameter limit: want a number from 1 to 10000, got "+strconv.Quote(v))
			return
		}
		q.Limit = n
	}
	list, err := s.Ledger.Changes(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state store unavailable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": list})
}

func writeRolloutError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, rollout.ErrInProgress), errors.Is(err, rollout.ErrState):
		status = http.StatusConflict
	case errors.Is(err, rollout.ErrNoRollout):
		status = http.StatusNotFound
	case errors.Is(err, rollout.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error()+"; nothing changed")
}
