package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"holdfast/internal/flags"
	"holdfast/internal/flagstore"
	"holdfast/internal/ofrep"
)

// FlagStore is what the API needs of the versioned flag service.
type FlagStore interface {
	Store() *flagstore.Service
	Environment() string
	SetFlag(ctx context.Context, req flags.SetRequest) (flags.SetResult, error)
}

var _ FlagStore = (*flags.Service)(nil)

// registerFlagStore adds the versioned-flag endpoints and OFREP.
func (s *Server) registerFlagStore(mux *http.ServeMux) {
	if s.FlagStore == nil {
		return
	}
	mux.Handle("GET /api/v1/flag-versions", s.auth(s.listFlagVersions))
	mux.Handle("POST /api/v1/flag-versions", s.auth(s.createFlagVersion))
	mux.Handle("GET /api/v1/flag-versions/{n}", s.auth(s.getFlagVersion))
	mux.Handle("GET /api/v1/flag-environments", s.auth(s.listFlagEnvironments))
	mux.Handle("GET /api/v1/flag-environments/{env}", s.auth(s.flagEnvironment))
	mux.Handle("GET /api/v1/flag-environments/{env}/deployments", s.auth(s.flagDeployments))
	mux.Handle("POST /api/v1/flag-environments/{env}/deployments", s.auth(s.startFlagDeployment))
	mux.Handle("POST /api/v1/flag-environments/{env}/stop", s.auth(s.stopFlagDeployment))
	mux.Handle("POST /api/v1/flag-environments/{env}/revert", s.auth(s.revertFlagDeployment))
	mux.Handle("POST /api/v1/flag-environments/{env}/evaluate/{flag}", s.auth(s.evaluateFlag))
	mux.Handle("GET /api/v1/flag-environments/{env}/runbook/{flag}", s.auth(s.flagRunbook))
	oh := &ofrep.Handler{Env: s.FlagStore.Environment, Eval: func() ofrep.Evaluator {
		if fs := s.FlagStore.Store(); fs != nil {
			return fs
		}
		return nil
	}}
	mux.Handle("POST /ofrep/v1/evaluate/flags/{key}", s.auth(oh.Single))
	mux.Handle("POST /ofrep/v1/evaluate/flags", s.auth(oh.Bulk))
}

func (s *Server) openFlagStore(w http.ResponseWriter) *flagstore.Service {
	fs := s.FlagStore.Store()
	if fs == nil {
		writeError(w, http.StatusServiceUnavailable, "the flag store is not open yet")
	}
	return fs
}

// FlagVersionRequest is the body of POST /api/v1/flag-versions.
type FlagVersionRequest struct {
	Content     json.RawMessage `json:"content"`
	Description string          `json:"description"`
}

func (s *Server) createFlagVersion(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	var req FlagVersionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if len(req.Content) == 0 {
		writeError(w, http.StatusBadRequest, `body: field "content" is required: the flag document`)
		return
	}
	if strings.TrimSpace(req.Description) == "" {
		writeError(w, http.StatusBadRequest, `body: field "description" is required: say what changes, it goes into the change ledger`)
		return
	}
	v, err := fs.CreateVersion(r.Context(), req.Content, req.Description, actor(r), time.Now())
	var verr *flagstore.ValidationError
	switch {
	case errors.As(err, &verr), errors.Is(err, flagstore.ErrInvalidDocument), errors.Is(err, flagstore.ErrVetoed):
		writeError(w, http.StatusUnprocessableEntity, "version rejected, nothing stored: "+err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "state store unavailable, nothing stored: "+err.Error())
	default:
		v.Content = nil
		writeJSON(w, http.StatusCreated, v)
	}
}

func (s *Server) listFlagVersions(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	vs := fs.Versions()
	for i := range vs {
		vs[i].Content = nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

func (s *Server) getFlagVersion(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("version %q: want a number", r.PathValue("n")))
		return
	}
	for _, v := range fs.Versions() {
		if v.Number == n {
			writeJSON(w, http.StatusOK, map[string]any{"version": v, "document": json.RawMessage(v.Content)})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no flag version %d", n))
}

// FlagEnvironmentStatus is an environment's state as the API shows it.
type FlagEnvironmentStatus struct {
	Environment flagstore.Environment `json:"environment"`
	Gateway     bool                  `json:"gateway"` // the environment the gateway and OFREP read
	Version     int                   `json:"version"`
	Latest      *flagstore.Deployment `json:"latest,omitempty"`
	RevertUntil time.Time             `json:"revert_until,omitzero"`
}

func (s *Server) envStatus(fs *flagstore.Service, env string) (FlagEnvironmentStatus, error) {
	st, err := fs.Status(env)
	if err != nil {
		return FlagEnvironmentStatus{}, err
	}
	return FlagEnvironmentStatus{Environment: st.Environment, Gateway: env == s.FlagStore.Environment(),
		Version: st.Version, Latest: st.Latest, RevertUntil: st.RevertUntil}, nil
}

func (s *Server) listFlagEnvironments(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	out := []FlagEnvironmentStatus{}
	for _, e := range fs.Environments() {
		if st, err := s.envStatus(fs, e.Name); err == nil {
			out = append(out, st)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"environments": out})
}

func (s *Server) flagEnvironment(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	st, err := s.envStatus(fs, r.PathValue("env"))
	if err != nil {
		s.flagError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) flagDeployments(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	ds, err := fs.Deployments(r.PathValue("env"))
	if err != nil {
		s.flagError(w, err)
		return
	}
	if ds == nil {
		ds = []flagstore.Deployment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": ds})
}

// DeployRequest is the body of POST /api/v1/flag-environments/{env}/deployments.
// Strategy names a predefined strategy; Custom gives one instead.
type DeployRequest struct {
	Version     int             `json:"version"` // 0: the latest version
	Strategy    string          `json:"strategy,omitempty"`
	Custom      *CustomStrategy `json:"custom,omitempty"`
	Description string          `json:"description"`
}

// CustomStrategy is a strategy given in the request (durations as "10m").
type CustomStrategy struct {
	GrowthType         string  `json:"growth_type"`
	GrowthFactor       float64 `json:"growth_factor"`
	DeploymentDuration string  `json:"deployment_duration"`
	FinalBakeTime      string  `json:"final_bake_time"`
}

// ResolveStrategy resolves a strategy name or a custom strategy.
func ResolveStrategy(name string, c *CustomStrategy) (flagstore.Strategy, error) {
	switch {
	case name != "" && c != nil:
		return flagstore.Strategy{}, errors.New("give a strategy name or a custom strategy, not both")
	case c != nil:
		s := flagstore.Strategy{Name: "custom", GrowthType: flagstore.GrowthType(strings.ToUpper(c.GrowthType)), GrowthFactor: c.GrowthFactor}
		var err error
		if s.DeploymentDuration, err = parseOptDuration("deployment_duration", c.DeploymentDuration); err != nil {
			return s, err
		}
		if s.FinalBakeTime, err = parseOptDuration("final_bake_time", c.FinalBakeTime); err != nil {
			return s, err
		}
		return s, s.Validate()
	case name == "":
		return flagstore.AllAtOnce, nil
	}
	s, ok := flagstore.StrategyByName(name)
	if !ok {
		names := []string{}
		for _, p := range flagstore.PredefinedStrategies() {
			names = append(names, p.Name)
		}
		return s, fmt.Errorf("%w: no predefined strategy %q; use one of %s, or a custom one", flagstore.ErrInvalidStrategy, name, strings.Join(names, ", "))
	}
	return s, nil
}

func parseOptDuration(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a duration; write it like 30s or 10m", flagstore.ErrInvalidStrategy, field, v)
	}
	return d, nil
}

func (s *Server) startFlagDeployment(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	var req DeployRequest
	if !decodeBody(w, r, &req) {
		return
	}
	strat, err := ResolveStrategy(req.Strategy, req.Custom)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Version == 0 {
		vs := fs.Versions()
		if len(vs) == 0 {
			writeError(w, http.StatusNotFound, "no flag version; create one first")
			return
		}
		req.Version = vs[len(vs)-1].Number
	}
	d, err := fs.StartDeployment(r.Context(), flagstore.DeployRequest{Environment: r.PathValue("env"), Version: req.Version,
		Strategy: strat, Description: req.Description, Actor: actor(r)}, time.Now())
	if err != nil {
		s.flagError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// ReasonRequest is the body of stop and revert.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) stopFlagDeployment(w http.ResponseWriter, r *http.Request) {
	s.endFlagDeployment(w, r, (*flagstore.Service).Stop)
}

func (s *Server) revertFlagDeployment(w http.ResponseWriter, r *http.Request) {
	s.endFlagDeployment(w, r, (*flagstore.Service).Revert)
}

func (s *Server) endFlagDeployment(w http.ResponseWriter, r *http.Request,
	fn func(*flagstore.Service, context.Context, string, string, string, time.Time) (flagstore.Deployment, error)) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	var req ReasonRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		writeError(w, http.StatusBadRequest, `body: field "reason" is required: say why, it goes into the change ledger`)
		return
	}
	d, err := fn(fs, r.Context(), r.PathValue("env"), actor(r), req.Reason, time.Now())
	if err != nil && d.State == "" {
		s.flagError(w, err)
		return
	}
	// A stop or revert the store failed to record is still in effect.
	writeJSON(w, http.StatusOK, d)
}

// EvaluateRequest is the body of POST .../evaluate/{flag}.
type EvaluateRequest struct {
	Entity  string         `json:"entity"`
	Context map[string]any `json:"context"`
}

func (s *Server) evaluateFlag(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	var req EvaluateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := fs.Evaluate(r.PathValue("env"), r.PathValue("flag"), flagstore.EvalContext{Entity: req.Entity, Values: req.Context})
	if err != nil {
		s.flagError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) flagRunbook(w http.ResponseWriter, r *http.Request) {
	fs := s.openFlagStore(w)
	if fs == nil {
		return
	}
	if _, err := fs.Status(r.PathValue("env")); err != nil {
		s.flagError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"runbook": fs.Runbook(r.PathValue("env"), r.PathValue("flag"))})
}

func (s *Server) flagError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, flagstore.ErrUnknownEnvironment), errors.Is(err, flagstore.ErrUnknownVersion),
		errors.Is(err, flagstore.ErrUnknownFlag), errors.Is(err, flagstore.ErrNoVersion):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, flagstore.ErrDeploymentInProgress), errors.Is(err, flagstore.ErrNoDeployment),
		errors.Is(err, flagstore.ErrCannotRevert):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, flagstore.ErrInvalidStrategy):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.Logger.Error("flag store call failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "state store unavailable, nothing changed: "+err.Error())
	}
}

// setFlagWithStrategy flips a flag as a monitored deployment.
func (s *Server) setFlagWithStrategy(w http.ResponseWriter, r *http.Request, req *SetFlagRequest) {
	if s.FlagStore == nil {
		writeError(w, http.StatusNotImplemented, "strategies need the versioned flag store")
		return
	}
	strat, err := ResolveStrategy(req.Strategy, nil)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.FlagStore.SetFlag(r.Context(), flags.SetRequest{Name: r.PathValue("name"), Enabled: *req.Enabled,
		Actor: actor(r), Reason: req.Reason, Strategy: &strat})
	if errors.Is(err, flags.ErrUnknownFlag) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.flagError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SetFlagResponse{Flag: res.Flag, Change: res.Change})
}
