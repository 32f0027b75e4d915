package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"holdfast/internal/api"
	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/state"
)

type fixture struct {
	srv    *httptest.Server
	store  *state.Store
	flags  *flags.Service
	client *api.Client
	token  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := state.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs := flags.New(st, nil)
	if err := fs.Sync(ctx, []config.Flag{{Name: "orders-real"}}); err != nil {
		t.Fatal(err)
	}
	tok, created, err := api.EnsureToken(filepath.Join(dir, "admin.token"))
	if err != nil || !created {
		t.Fatalf("EnsureToken = %v, %v", created, err)
	}
	s := &api.Server{Token: tok, Flags: fs, Ledger: st,
		Reload: func(ctx context.Context, actor, reason string) error {
			return &config.Errors{Problems: []config.Problem{{File: "c.yaml", Line: 3, Field: "routes", Msg: "broken"}}}
		},
		Status: func() any { return map[string]string{"ok": "yes"} },
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, flags: fs, token: tok,
		client: &api.Client{BaseURL: srv.URL, Token: tok, Actor: "tester@host"}}
}

func (f *fixture) raw(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error    string   `json:"error"`
		Problems []string `json:"problems"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error + "\n" + strings.Join(e.Problems, "\n")
	}
	return resp.StatusCode, string(b)
}

func TestTokenRequired(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/api/v1/flags", ""},
		{"GET", "/api/v1/flags", "wrong"},
		{"PUT", "/api/v1/flags/orders-real", ""},
		{"PUT", "/api/v1/flags/orders-real", f.token + "x"},
		{"GET", "/api/v1/changes", ""},
		{"POST", "/api/v1/reload", ""},
		{"GET", "/api/v1/status", ""},
		{"GET", "/api/v1/nothing", ""},
	} {
		got, body := f.raw(t, tc.method, tc.path, tc.token, `{"enabled":false,"reason":"x"}`)
		if want := http.StatusUnauthorized; got != want {
			t.Errorf("%s %s token=%q: status %d, want %d (%s)", tc.method, tc.path, tc.token, got, want, body)
		}
	}
	// Nothing changed.
	if v, _ := f.flags.Bool("orders-real", ""); !v {
		t.Fatal("an unauthenticated call flipped the flag")
	}
	changes, _ := f.store.Changes(context.Background(), state.ChangeQuery{Action: "set"})
	if len(changes) != 0 {
		t.Fatalf("ledger has %d set entries after refused calls", len(changes))
	}
	if got, _ := f.raw(t, "GET", "/healthz", "", ""); got != 200 {
		t.Errorf("/healthz without token: %d, want 200", got)
	}
}

func TestSetFlagAndLedger(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.client.SetFlag(ctx, "orders-real", false, "db failover")
	if err != nil {
		t.Fatal(err)
	}
	if res.Flag.Enabled || res.Change.Actor != "tester@host (token)" || res.Change.Reason != "db failover" {
		t.Fatalf("SetFlag = %+v", res)
	}
	if v, _ := f.flags.Bool("orders-real", ""); v {
		t.Fatal("flag still on in the data plane")
	}
	list, err := f.client.Changes(ctx, "flag", "orders-real", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Action != "set" || list[1].Action != "create" {
		t.Fatalf("changes = %+v", list)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"unknown flag", "PUT", "/api/v1/flags/nope", `{"enabled":false,"reason":"x"}`, 404, `"nope"`},
		{"malformed json", "PUT", "/api/v1/flags/orders-real", `{"enabled":`, 400, "body:"},
		{"wrong type", "PUT", "/api/v1/flags/orders-real", `{"enabled":"no","reason":"x"}`, 400, `field "enabled"`},
		{"unknown field", "PUT", "/api/v1/flags/orders-real", `{"enabled":false,"reason":"x","force":1}`, 400, "force"},
		{"missing enabled", "PUT", "/api/v1/flags/orders-real", `{"reason":"x"}`, 400, "enabled"},
		{"missing reason", "PUT", "/api/v1/flags/orders-real", `{"enabled":false}`, 400, "reason"},
		{"empty body", "PUT", "/api/v1/flags/orders-real", ``, 400, "empty"},
		{"bad limit", "GET", "/api/v1/changes?limit=abc", ``, 400, "limit"},
		{"bad since", "GET", "/api/v1/changes?since=yesterday", ``, 400, "since"},
		{"unknown endpoint", "GET", "/api/v1/nothing", ``, 404, "no API endpoint"},
		{"rejected reload", "POST", "/api/v1/reload", ``, 422, "c.yaml:3: routes: broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, body := f.raw(t, tc.method, tc.path, f.token, tc.body)
			if got != tc.want || !strings.Contains(body, tc.msg) {
				t.Errorf("status %d body %s; want %d containing %q", got, body, tc.want, tc.msg)
			}
		})
	}
	if v, _ := f.flags.Bool("orders-real", ""); !v {
		t.Fatal("a rejected call flipped the flag")
	}
	changes, _ := f.store.Changes(context.Background(), state.ChangeQuery{Action: "set"})
	if len(changes) != 0 {
		t.Fatalf("ledger has %d set entries after rejected calls", len(changes))
	}
	var apiErr *api.Error
	if _, err := f.client.SetFlag(context.Background(), "nope", true, "x"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("client SetFlag(unknown) = %v; want *api.Error 404", err)
	}
}

func TestEnsureTokenReusesAndRefusesLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin.token")
	tok1, created, err := api.EnsureToken(path)
	if err != nil || !created || len(tok1) < 32 {
		t.Fatalf("first EnsureToken = %q, %v, %v", tok1, created, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	tok2, created, err := api.EnsureToken(path)
	if err != nil || created || tok2 != tok1 {
		t.Fatalf("second EnsureToken = %q, %v, %v; want the same token", tok2, created, err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := api.EnsureToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("EnsureToken on a 0644 file = %v; want a chmod hint", err)
	}
}
