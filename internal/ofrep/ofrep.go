// Package ofrep serves OpenFeature's Remote Evaluation Protocol (OFREP
// v0.1: POST /ofrep/v1/evaluate/flags/{key} and the bulk
// POST /ofrep/v1/evaluate/flags with ETag / If-None-Match) over the
// versioned flag store, so a service can evaluate holdfast's flags with any
// OpenFeature SDK's OFREP provider.
//
// A flag key answers the flag's enabled value (a boolean), its variant and
// reason, with its attributes and the document version as metadata; the key
// FLAG.ATTRIBUTE answers one attribute's value (string, number, boolean or
// array). The context's targetingKey is the evaluation entity (the same
// entity a deployment's percentage and split rules use); other context
// values must be strings, numbers or booleans. Errors carry OFREP's codes:
// FLAG_NOT_FOUND (404), and PARSE_ERROR, INVALID_CONTEXT and
// TARGETING_KEY_MISSING (400). TYPE_MISMATCH is the SDK's to raise: OFREP
// requests carry no type, so a client asking a boolean flag for a string
// gets TYPE_MISMATCH from its provider. Evaluation reads the flag store's
// in-memory snapshot only: it keeps answering with the last good document
// while the state store is unavailable.
package ofrep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"holdfast/internal/flagstore"
)

// Evaluator is what OFREP needs of the flag store.
type Evaluator interface {
	Evaluate(env, flag string, ctx flagstore.EvalContext) (flagstore.Result, error)
	FlagKeys(env string, ctx flagstore.EvalContext) ([]string, error)
	EntityDependent(env, flag string) bool
}

var _ Evaluator = (*flagstore.Service)(nil)

// OFREP error codes (OpenFeature's).
const (
	CodeParseError          = "PARSE_ERROR"
	CodeTargetingKeyMissing = "TARGETING_KEY_MISSING"
	CodeInvalidContext      = "INVALID_CONTEXT"
	CodeFlagNotFound        = "FLAG_NOT_FOUND"
	CodeGeneral             = "GENERAL"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Handler serves the two OFREP endpoints.
type Handler struct {
	// Eval answers evaluations; nil means no flag exists.
	Eval func() Evaluator
	// Env is the environment evaluated.
	Env func() string
}

// Success is one successful evaluation.
type Success struct {
	Key      string         `json:"key"`
	Value    any            `json:"value"`
	Reason   string         `json:"reason"`
	Variant  string         `json:"variant,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Failure is one failed evaluation.
type Failure struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}

type failure struct {
	status int
	body   Failure
}

// Single serves POST /ofrep/v1/evaluate/flags/{key}.
func (h *Handler) Single(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	ctx, f := readContext(r)
	if f != nil {
		f.body.Key = key
		writeJSON(w, f.status, f.body)
		return
	}
	s, f := h.evaluate(key, ctx)
	if f != nil {
		writeJSON(w, f.status, f.body)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// Bulk serves POST /ofrep/v1/evaluate/flags: every flag of the version the
// context's entity sees, with an ETag; If-None-Match with the same ETag
// gets 304.
func (h *Handler) Bulk(w http.ResponseWriter, r *http.Request) {
	ctx, f := readContext(r)
	if f != nil {
		writeJSON(w, f.status, Failure{ErrorCode: f.body.ErrorCode, ErrorDetails: f.body.ErrorDetails})
		return
	}
	var keys []string
	if ev := h.evaluator(); ev != nil {
		keys, _ = ev.FlagKeys(h.Env(), ctx) // no environment or nothing deployed: no flags
	}
	out := struct {
		Flags []any `json:"flags"`
	}{Flags: make([]any, 0, len(keys))}
	for _, k := range keys {
		if s, f := h.evaluate(k, ctx); f != nil {
			out.Flags = append(out.Flags, f.body)
		} else {
			out.Flags = append(out.Flags, s)
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": err.Error()})
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func matches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (h *Handler) evaluator() Evaluator {
	if h.Eval == nil {
		return nil
	}
	return h.Eval()
}

func (h *Handler) evaluate(key string, ctx flagstore.EvalContext) (*Success, *failure) {
	notFound := &failure{http.StatusNotFound, Failure{Key: key, ErrorCode: CodeFlagNotFound,
		ErrorDetails: fmt.Sprintf("flag %q is not in the version deployed to %s", key, h.Env())}}
	ev := h.evaluator()
	if ev == nil {
		return nil, notFound
	}
	env := h.Env()
	flag, attr, isAttr := strings.Cut(key, ".")
	if ctx.Entity == "" && ev.EntityDependent(env, flag) {
		return nil, &failure{http.StatusBadRequest, Failure{Key: key, ErrorCode: CodeTargetingKeyMissing,
			ErrorDetails: fmt.Sprintf("flag %q is answered per entity (a deployment in progress or a split rule); send context.targetingKey", flag)}}
	}
	res, err := ev.Evaluate(env, flag, ctx)
	switch {
	case errors.Is(err, flagstore.ErrUnknownFlag), errors.Is(err, flagstore.ErrNoVersion), errors.Is(err, flagstore.ErrUnknownEnvironment):
		return nil, notFound
	case err != nil:
		return nil, &failure{http.StatusInternalServerError, Failure{Key: key, ErrorCode: CodeGeneral, ErrorDetails: err.Error()}}
	}
	meta := map[string]any{"version": res.Version, "environment": env}
	s := &Success{Key: key, Value: res.Enabled, Reason: res.Reason, Variant: res.Variant, Metadata: meta}
	if isAttr {
		v, ok := res.Attributes[attr]
		if !ok {
			notFound.body.ErrorDetails = fmt.Sprintf("flag %q has no attribute %q in version %d", flag, attr, res.Version)
			return nil, notFound
		}
		s.Value = v
		return s, nil
	}
	for k, v := range res.Attributes {
		switch v.(type) {
		case string, float64, bool: // OFREP metadata holds scalars only
			meta[k] = v
		}
	}
	return s, nil
}

// readContext decodes {"context": {...}}: targetingKey is the entity, the
// other values must be strings, numbers or booleans.
func readContext(r *http.Request) (flagstore.EvalContext, *failure) {
	var ec flagstore.EvalContext
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeParseError, ErrorDetails: "read body: " + err.Error()}}
	}
	if len(data) > maxBody {
		return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeParseError, ErrorDetails: "body larger than 1 MiB"}}
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return ec, nil
	}
	var req struct {
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeParseError, ErrorDetails: "body: " + err.Error()}}
	}
	if len(req.Context) == 0 || string(req.Context) == "null" {
		return ec, nil
	}
	var m map[string]any
	if err := json.Unmarshal(req.Context, &m); err != nil {
		return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeInvalidContext, ErrorDetails: "context: want a JSON object"}}
	}
	ec.Values = make(map[string]any, len(m))
	for k, v := range m {
		if k == "targetingKey" {
			s, ok := v.(string)
			if !ok {
				return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeInvalidContext,
					ErrorDetails: fmt.Sprintf("context.targetingKey: want a string, got %s", jsonType(v))}}
			}
			ec.Entity = s
			continue
		}
		switch v.(type) {
		case string, float64, bool:
			ec.Values[k] = v
		default:
			return ec, &failure{http.StatusBadRequest, Failure{ErrorCode: CodeInvalidContext,
				ErrorDetails: fmt.Sprintf("context.%s: rules compare strings, numbers and booleans; got %s", k, jsonType(v))}}
		}
	}
	return ec, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "a string"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
