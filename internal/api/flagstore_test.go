package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"holdfast/internal/api"
	"holdfast/internal/state"
)

func (f *ofrepFixture) raw(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	resp, b := f.do(t, method, path, token, body, nil)
	return resp.StatusCode, b
}

// do sends a request with extra headers and returns the response and body.
func (f *ofrepFixture) do(t *testing.T, method, path, token, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestFlagStoreBadInput: every bad call gets a clear error and changes
// nothing: no version, no deployment, no ledger entry.
func TestFlagStoreBadInput(t *testing.T) {
	f := newOFREPFixture(t)
	ctx := context.Background()
	before, _ := f.store.Changes(ctx, state.ChangeQuery{Limit: 1000})
	vs := `/api/v1/flag-versions`
	dep := `/api/v1/flag-environments/production/deployments`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"schema", "POST", vs, `{"description":"x","content":{"version":"1","flags":{"Bad Key":{}},"values":{}}}`, 422, "Bad Key"},
		{"unknown attribute in a rule", "POST", vs, `{"description":"x","content":{"version":"1","flags":{"a":{"name":"a"}},"values":{"a":{"enabled":true,"_variants":[{"name":"v","rule":"(eq $plan \"gold\")","enabled":true},{"name":"Default","enabled":false}]}}}}`, 200, ""},
		{"split over 100", "POST", vs, `{"description":"x","content":{"version":"1","flags":{"a":{"name":"a"}},"values":{"a":{"enabled":true,"_variants":[{"name":"v","rule":"(split pct::120)","enabled":true},{"name":"Default","enabled":false}]}}}}`, 422, "120"},
		{"constraint", "POST", vs, `{"description":"x","content":{"version":"1","flags":{"a":{"name":"a","attributes":{"n":{"constraints":{"type":"number","maximum":3}}}}},"values":{"a":{"enabled":true,"n":9}}}}`, 422, "maximum"},
		{"no description", "POST", vs, `{"content":{"version":"1","flags":{},"values":{}}}`, 400, "description"},
		{"growth factor 0", "POST", dep, `{"custom":{"growth_type":"LINEAR","growth_factor":0,"deployment_duration":"1m"}}`, 400, "growth factor"},
		{"growth factor over 100", "POST", dep, `{"custom":{"growth_type":"LINEAR","growth_factor":101}}`, 400, "growth factor"},
		{"unknown strategy", "POST", dep, `{"strategy":"Fast"}`, 400, "AllAtOnce"},
		{"unknown version", "POST", dep, `{"strategy":"AllAtOnce","version":99}`, 404, "99"},
		{"unknown environment", "POST", `/api/v1/flag-environments/nowhere/deployments`, `{"strategy":"AllAtOnce"}`, 404, "nowhere"},
		{"stop with nothing running", "POST", `/api/v1/flag-environments/production/stop`, `{"reason":"x"}`, 409, "no deployment in progress"},
		{"stop without reason", "POST", `/api/v1/flag-environments/production/stop`, `{}`, 400, "reason"},
		{"unknown flag", "POST", `/api/v1/flag-environments/production/evaluate/nope`, `{}`, 404, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, body := f.raw(t, tc.method, tc.path, f.token, tc.body)
			if tc.want == 200 {
				// Rules may use any context attribute unless the store lists them.
				if got != 201 {
					t.Errorf("status %d body %s; want 201", got, body)
				}
				return
			}
			if got != tc.want || !strings.Contains(body, tc.msg) {
				t.Errorf("status %d body %s; want %d containing %q", got, body, tc.want, tc.msg)
			}
		})
	}
	after, _ := f.store.Changes(ctx, state.ChangeQuery{Limit: 1000})
	if len(after) != len(before)+1 { // the one accepted version
		t.Errorf("ledger grew by %d entries, want 1", len(after)-len(before))
	}

	// One deployment at a time; a revert needs a previous version.
	c := &api.Client{BaseURL: f.srv.URL, Token: f.token}
	if _, err := c.DeployFlags(ctx, "production", api.DeployRequest{Strategy: "Linear20PercentEvery6Minutes"}); err != nil {
		t.Fatal(err)
	}
	if got, body := f.raw(t, "POST", dep, f.token, `{"strategy":"AllAtOnce"}`); got != 409 || !strings.Contains(body, "in progress") {
		t.Errorf("second deployment: %d %s", got, body)
	}
	if got, body := f.raw(t, "POST", `/api/v1/flag-environments/production/revert`, f.token, `{"reason":"x"}`); got != 409 || !strings.Contains(body, "stop it instead") {
		t.Errorf("revert while deploying: %d %s", got, body)
	}
	// A monitored flip is refused while another deployment runs.
	if got, body := f.raw(t, "PUT", `/api/v1/flags/orders-real`, f.token, `{"enabled":false,"reason":"x","strategy":"AllAtOnce"}`); got != 409 {
		t.Errorf("flip with a strategy during a deployment: %d %s", got, body)
	}
	// Without a token: 401 on every new endpoint.
	for _, p := range []string{vs, dep, "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/orders-real"} {
		if got, _ := f.raw(t, "POST", p, "", `{}`); got != 401 {
			t.Errorf("POST %s without token: %d", p, got)
		}
	}
}

// TestFlipSupersedesDeployment: the operator's flip stops a deployment in
// progress and applies at once; alarms do not undo it.
func TestFlipSupersedesDeployment(t *testing.T) {
	f := newOFREPFixture(t)
	ctx := context.Background()
	c := &api.Client{BaseURL: f.srv.URL, Token: f.token, Actor: "oncall@host"}
	if _, err := c.DeployFlags(ctx, "production", api.DeployRequest{Version: 1, Strategy: "Linear20PercentEvery6Minutes"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.SetFlag(ctx, "orders-real", false, "db down")
	if err != nil {
		t.Fatal(err)
	}
	if res.Flag.Enabled || res.Change.Subject != "orders-real" || res.Change.Action != "set" || res.Change.ID == 0 {
		t.Fatalf("SetFlag = %+v", res)
	}
	if v, _ := f.flags.Bool("orders-real", "anyone"); v {
		t.Fatal("the flip is not applied")
	}
	ds, err := c.FlagDeployments(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	n := len(ds)
	if ds[n-2].State != "ROLLED_BACK" || !strings.Contains(ds[n-2].Reason, "superseded by orders-real off: db down") ||
		ds[n-1].State != "COMPLETE" || !ds[n-1].IgnoreMonitors {
		t.Fatalf("deployments: %+v", ds[n-2:])
	}
}
