package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers every response carries.
const (
	// HeaderBackend names the backend that answered: mock or postgres.
	HeaderBackend = "X-Backend"
	// HeaderRequestID is echoed back when the request has it.
	HeaderRequestID = "X-Request-Id"
	// HeaderFaultInjected is "true" on a response failed on purpose.
	HeaderFaultInjected = "X-Fault-Injected"
)

// Paging of GET /orders.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// healthTimeout bounds the database ping of /healthz.
const healthTimeout = 2 * time.Second

// Options configure a Handler.
type Options struct {
	// Backend serves the data; required.
	Backend Backend
	// FailRate and ExtraLatency are the initial faults (see Faults).
	FailRate     float64
	ExtraLatency time.Duration
	// Seed seeds the choice of failed requests; default 1.
	Seed uint64
	// Logger receives backend errors and fault changes; default discards.
	Logger *slog.Logger
}

// Handler is the service's HTTP API:
//
//	GET  /healthz                 {"status":"ok","backend":"mock"}; 503 when the database is down
//	GET  /orders?limit=&offset=   {"orders":[...],"limit":20,"offset":0,"total":20}
//	GET  /orders/{id}             one order
//	POST /orders                  create {customer_id, items:[{sku, quantity, unit_price_cents}]} → 201
//	GET  /customers/{id}/orders   {"customer_id":1,"orders":[...]}
//	GET  /admin/faults            the current faults
//	POST /admin/faults            change them: {"fail_rate":0.5,"extra_latency":"100ms"}
//
// Errors are JSON {"error": "...", "field": "..."} (field for bad input).
// Faults apply to every path except /admin/*.
type Handler struct {
	backend Backend
	faults  *injector
	log     *slog.Logger
	mux     *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// NewHandler validates opts and returns the handler.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Backend == nil {
		return nil, errors.New("orders.Options.Backend: required")
	}
	f := Faults{FailRate: opts.FailRate, ExtraLatency: opts.ExtraLatency}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("orders.Options: %w", err)
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{backend: opts.Backend, faults: newInjector(f, opts.Seed), log: opts.Logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", h.health)
	h.mux.HandleFunc("GET /orders", h.listOrders)
	h.mux.HandleFunc("POST /orders", h.createOrder)
	h.mux.HandleFunc("GET /orders/{id}", h.getOrder)
	h.mux.HandleFunc("GET /customers/{id}/orders", h.customerOrders)
	h.mux.HandleFunc("GET /admin/faults", h.getFaults)
	h.mux.HandleFunc("POST /admin/faults", h.setFaults)
	return h, nil
}

// Faults returns the faults now in force.
func (h *Handler) Faults() Faults { return h.faults.get() }

// SetFaults replaces the faults; out-of-range values are refused.
func (h *Handler) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	h.faults.set(f)
	h.log.Info("faults changed", logKeyFailRate, f.FailRate, logKeyExtraLatency, f.ExtraLatency)
	return nil
}

// ServeHTTP stamps the headers, injects faults and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderBackend, h.backend.Name())
	if id := r.Header.Get(HeaderRequestID); id != "" {
		w.Header().Set(HeaderRequestID, id)
	}
	if !strings.HasPrefix(r.URL.Path, "/admin/") {
		f, fail := h.faults.next()
		if f.ExtraLatency > 0 {
			t := time.NewTimer(f.ExtraLatency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the client left; nobody reads an answer
			}
		}
		if fail {
			w.Header().Set(HeaderFaultInjected, "true")
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("injected fault (fail_rate=%v)", f.FailRate))
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := h.backend.Ping(ctx); err != nil {
		h.log.Warn("health check failed", logKeyBackend, h.backend.Name(), logKeyError, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"status": "unavailable", "backend": h.backend.Name(), "error": err.Error(),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "backend": h.backend.Name()})
}

func (h *Handler) listOrders(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", DefaultLimit, 1, MaxLimit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	offset, err := intParam(r, "offset", 0, 0, 1<<31-1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	orders, n, err := h.backend.ListOrders(r.Context(), limit, offset)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Orders []Order `json:"orders"`
		Limit  int     `json:"limit"`
		Offset int     `json:"offset"`
		Total  int     `json:"total"`
	}{nonNil(orders), limit, offset, n})
}

func (h *Handler) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.backend.GetOrder(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (h *Handler) createOrder(w http.ResponseWriter, r *http.Request) {
	in, err := DecodeNewOrder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.backend.CreateOrder(r.Context(), in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/orders/%d", o.ID))
	writeJSON(w, http.StatusCreated, o)
}

func (h *Handler) customerOrders(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	orders, err := h.backend.CustomerOrders(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		CustomerID int64   `json:"customer_id"`
		Orders     []Order `json:"orders"`
	}{id, nonNil(orders)})
}

func (h *Handler) getFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Faults())
}

func (h *Handler) setFaults(w http.ResponseWriter, r *http.Request) {
	var p faultsPatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		h.fail(w, r, decodeError(err))
		return
	}
	f, err := h.faults.update(p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("faults changed", logKeyFailRate, f.FailRate, logKeyExtraLatency, f.ExtraLatency)
	writeJSON(w, http.StatusOK, f)
}

// fail answers err: bad input 400, missing 404, too large 413, else 500
// (logged, not shown: it may hold database details).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var verr *ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &verr):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": verr.Error(), "field": verr.Field})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", tooBig.Limit))
	case r.Context().Err() != nil:
		// The client left; nobody reads an answer.
	default:
		h.log.Error("request failed", logKeyMethod, r.Method, logKeyPath, r.URL.Path,
			logKeyBackend, h.backend.Name(), logKeyError, err)
		writeError(w, http.StatusInternalServerError, h.backend.Name()+" backend failed; see the service log")
	}
}

// intParam parses query parameter name, or returns def when it is absent.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &ValidationError{name, fmt.Sprintf("%q; want an integer from %d to %d", s, lo, hi)}
	}
	return n, nil
}

// idParam parses path parameter name as a positive id.
func idParam(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, &ValidationError{name, fmt.Sprintf("%q; want a positive integer", s)}
	}
	return id, nil
}

func nonNil(o []Order) []Order {
	if o == nil {
		return []Order{}
	}
	return o
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
