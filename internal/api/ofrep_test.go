package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"

	"holdfast/internal/api"
	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/state"
)

// checkoutDoc keeps the kill switch on and adds a multi-variant flag split
// by the entity, with a typed attribute.
const checkoutDoc = `{"version": "1",
 "flags": {"orders-real": {"name": "orders-real"},
           "checkout": {"name": "Checkout", "attributes": {"limit": {"constraints": {"type": "number", "minimum": 1}}}}},
 "values": {"orders-real": {"enabled": true},
            "checkout": {"enabled": false, "limit": 5,
              "_variants": [{"name": "beta", "rule": "(split pct::50)", "enabled": true, "limit": 20},
                            {"name": "Default", "enabled": false, "limit": 5}]}}}`

type ofrepFixture struct {
	srv   *httptest.Server
	store *state.Store
	flags *flags.Service
	token string
}

func newOFREPFixture(t *testing.T) *ofrepFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := state.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs := flags.New(st, nil)
	cfg := &config.Config{Flags: []config.Flag{{Name: "orders-real"}}, FlagEnvironments: []config.FlagEnvironment{{Name: "production"}}}
	if err := fs.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	tok, _, err := api.EnsureToken(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s := &api.Server{Token: tok, Flags: fs, Ledger: st, FlagStore: fs}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c := &api.Client{BaseURL: srv.URL, Token: tok, Actor: "tester@host"}
	v, err := c.CreateFlagVersion(ctx, []byte(checkoutDoc), "checkout beta for half the clients")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeployFlags(ctx, "production", api.DeployRequest{Version: v.Number,
		Custom: &api.CustomStrategy{GrowthType: "linear", GrowthFactor: 100}}); err != nil {
		t.Fatal(err)
	}
	return &ofrepFixture{srv: srv, store: st, flags: fs, token: tok}
}

// client is a real OpenFeature client through the Go SDK's OFREP provider.
func (f *ofrepFixture) client(t *testing.T, name, token string) *openfeature.Client {
	t.Helper()
	domain := t.Name() + "/" + name
	p := ofrep.NewProvider(f.srv.URL, ofrep.WithBearerToken(token), ofrep.WithClient(&http.Client{Timeout: 5 * time.Second}))
	if err := openfeature.SetNamedProviderAndWait(domain, p); err != nil {
		t.Fatal(err)
	}
	return openfeature.NewClient(domain)
}

func TestOFREPWithOpenFeatureClient(t *testing.T) {
	f := newOFREPFixture(t)
	c := f.client(t, "good", f.token)
	ctx := context.Background()
	who := func(key string) openfeature.EvaluationContext { return openfeature.NewEvaluationContext(key, nil) }

	d, err := c.BooleanValueDetails(ctx, "orders-real", false, who("client-1"))
	if err != nil || !d.Value || d.Reason != "STATIC" {
		t.Fatalf("orders-real = %+v, %v; want true STATIC", d, err)
	}
	if v, _ := d.FlagMetadata.GetFloat("version"); v != 2 {
		t.Errorf("metadata version = %v, want 2 (config's version 1, then the checkout version)", d.FlagMetadata)
	}

	// The split gives about half of the clients the beta variant, each one
	// always the same answer, and the attribute follows the variant.
	beta := 0
	for i := range 200 {
		key := "client-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		d, err := c.BooleanValueDetails(ctx, "checkout", false, who(key))
		if err != nil {
			t.Fatalf("checkout for %s: %v", key, err)
		}
		again, _ := c.BooleanValueDetails(ctx, "checkout", false, who(key))
		if again.Value != d.Value || again.Variant != d.Variant {
			t.Fatalf("%s flapped: %+v then %+v", key, d, again)
		}
		limit, err := c.FloatValue(ctx, "checkout.limit", 0, who(key))
		if err != nil {
			t.Fatalf("checkout.limit: %v", err)
		}
		switch {
		case d.Value && d.Variant == "beta" && d.Reason == "TARGETING_MATCH" && limit == 20:
			beta++
		case !d.Value && d.Variant == "Default" && d.Reason == "DEFAULT" && limit == 5:
		default:
			t.Fatalf("%s: %+v limit %v", key, d, limit)
		}
	}
	if beta < 70 || beta > 130 {
		t.Errorf("%d of 200 clients in the 50%% beta", beta)
	}

	for _, tc := range []struct {
		name string
		eval func() (openfeature.ErrorCode, error)
		want openfeature.ErrorCode
	}{
		{"unknown flag", func() (openfeature.ErrorCode, error) {
			d, err := c.BooleanValueDetails(ctx, "no-such-flag", true, who("c"))
			return d.ErrorCode, err
		}, openfeature.FlagNotFoundCode},
		{"unknown attribute", func() (openfeature.ErrorCode, error) {
			d, err := c.FloatValueDetails(ctx, "checkout.nope", 1, who("c"))
			return d.ErrorCode, err
		}, openfeature.FlagNotFoundCode},
		{"string asked of a boolean flag", func() (openfeature.ErrorCode, error) {
			d, err := c.StringValueDetails(ctx, "orders-real", "x", who("c"))
			return d.ErrorCode, err
		}, openfeature.TypeMismatchCode},
		{"context of the wrong type", func() (openfeature.ErrorCode, error) {
			d, err := c.BooleanValueDetails(ctx, "orders-real", false,
				openfeature.NewEvaluationContext("c", map[string]any{"plan": map[string]any{"tier": 1}}))
			return d.ErrorCode, err
		}, openfeature.InvalidContextCode},
		{"split flag without a targeting key", func() (openfeature.ErrorCode, error) {
			d, err := c.BooleanValueDetails(ctx, "checkout", false, openfeature.NewTargetlessEvaluationContext(nil))
			return d.ErrorCode, err
		}, openfeature.TargetingKeyMissingCode},
	} {
		got, err := tc.eval()
		if err == nil || got != tc.want {
			t.Errorf("%s: error code %q (%v), want %s", tc.name, got, err, tc.want)
		}
	}

	// A wrong token gets nothing but the default.
	bad := f.client(t, "bad", f.token+"x")
	if v, err := bad.BooleanValue(ctx, "checkout", false, who("client-a")); err == nil || v {
		t.Errorf("wrong token: %v, %v; want the default and an error", v, err)
	}

	// The state store goes away: evaluation keeps answering from memory.
	f.store.Close()
	if v, err := c.BooleanValue(ctx, "orders-real", false, who("client-1")); err != nil || !v {
		t.Errorf("after the store closed: %v, %v; want the last good true", v, err)
	}
}

func TestOFREPBulkETag(t *testing.T) {
	f := newOFREPFixture(t)
	post := func(body, etag string) (*http.Response, string) {
		t.Helper()
		hdr := map[string]string{}
		if etag != "" {
			hdr["If-None-Match"] = etag
		}
		return f.do(t, "POST", "/ofrep/v1/evaluate/flags", f.token, body, hdr)
	}
	resp, body := post(`{"context":{"targetingKey":"client-1"}}`, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || !strings.Contains(body, `"key":"checkout"`) || !strings.Contains(body, `"key":"orders-real"`) {
		t.Fatalf("bulk: %d etag %q %s", resp.StatusCode, etag, body)
	}
	if resp, body := post(`{"context":{"targetingKey":"client-1"}}`, etag); resp.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("same ETag: %d %q, want 304 and no body", resp.StatusCode, body)
	}
	// A flip changes the answers, so the ETag no longer matches.
	if _, _, err := f.flags.Set(context.Background(), "orders-real", false, "tester", "drill"); err != nil {
		t.Fatal(err)
	}
	resp, body = post(`{"context":{"targetingKey":"client-1"}}`, etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || !strings.Contains(body, `"key":"orders-real","value":false`) {
		t.Fatalf("after a flip: %d etag %q %s", resp.StatusCode, resp.Header.Get("ETag"), body)
	}
	// Bulk errors carry the code, not a key.
	if resp, body := post(`{"context":[1]}`, ""); resp.StatusCode != 400 || !strings.Contains(body, `"errorCode":"INVALID_CONTEXT"`) {
		t.Fatalf("bad bulk context: %d %s", resp.StatusCode, body)
	}
	if resp, _ := post(`{}`, ""); resp.StatusCode != 200 {
		t.Fatalf("bulk without a context: %d", resp.StatusCode)
	}
}
