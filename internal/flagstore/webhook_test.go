package flagstore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"holdfast/internal/state"
)

func TestWebhookValidator(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer t" || r.Header.Get(HeaderVersion) == "" {
			http.Error(w, "bad request shape", http.StatusBadRequest)
			return
		}
		if strings.Contains(string(body), `"enabled": true`) {
			http.Error(w, "kill switch may not be turned on during the freeze", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	db, err := state.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := NewStateStore(db, "shop", "flags")
	hook := &WebhookValidator{URL: srv.URL, Header: http.Header{"Authorization": {"Bearer t"}}}
	svc, err := New(Config{App: "shop", Profile: "flags", Validators: []Validator{hook}}, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.CreateVersion(ctx, killContent(false), "off", "alice", t0); err != nil {
		t.Fatalf("accepted document: %v", err)
	}
	_, err = svc.CreateVersion(ctx, killContent(true), "on", "alice", t0)
	if !errors.Is(err, ErrVetoed) || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "during the freeze") {
		t.Fatalf("veto = %v", err)
	}
	if n := len(svc.Versions()); n != 1 {
		t.Errorf("versions after veto = %d, want 1", n)
	}
	if vs, _ := st.Versions(ctx); len(vs) != 1 {
		t.Errorf("stored versions after veto = %d, want 1", len(vs))
	}
	// An invalid document never reaches the webhook.
	before := calls.Load()
	if _, err := svc.CreateVersion(ctx, []byte(`{"version":"1","values":{"x":{}}}`), "bad", "alice", t0); err == nil {
		t.Fatal("invalid document accepted")
	}
	if calls.Load() != before {
		t.Error("webhook called for an invalid document")
	}
	// A webhook that does not answer vetoes (fails closed).
	srv.Close()
	if err := hook.Validate(ctx, killContent(false), 3); !errors.Is(err, ErrVetoed) {
		t.Errorf("unreachable webhook = %v", err)
	}
}
