package rollout

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func hookServer(t *testing.T) (*httptest.Server, func() []HookPayload) {
	t.Helper()
	var mu sync.Mutex
	var got []HookPayload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p HookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad hook call", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		switch r.URL.Path {
		case "/pass":
			w.WriteHeader(http.StatusNoContent)
		case "/fail":
			http.Error(w, "smoke test failed: /health 503", http.StatusInternalServerError)
		case "/hang":
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []HookPayload { mu.Lock(); defer mu.Unlock(); return append([]HookPayload(nil), got...) }
}

// evalUntil evaluates at a fixed time until the rollout leaves state.
func evalUntil(t *testing.T, e *env, at time.Time, leave State) Status {
	t.Helper()
	var st Status
	waitFor(t, "the rollout to leave "+string(leave), func() bool {
		st = e.eval(t, at)
		return st.State != leave
	})
	return st
}

func TestHooksPass(t *testing.T) {
	srv, calls := hookServer(t)
	e := newEnv(t, nil)
	sp := spec("Canary10Percent5Minutes")
	sp.PreTrafficHook = &Hook{URL: srv.URL + "/pass"}
	sp.PostTrafficHook = &Hook{URL: srv.URL + "/pass"}
	st, err := e.ctrl.Start(bg, sp, t0)
	if err != nil || st.State != StatePreTrafficHook || len(e.splits.list()) != 0 {
		t.Fatalf("Start: %v %s %v", err, st.State, e.splits.list())
	}
	if st = evalUntil(t, e, t0.Add(sec(1)), StatePreTrafficHook); st.State != StateShifting || st.CandidatePercent != 10 {
		t.Fatalf("after pre hook: %s %v", st.State, st.CandidatePercent)
	}
	if st = e.eval(t, t0.Add(sec(301))); st.State != StateShifting || st.CandidatePercent != 100 {
		t.Fatalf("at 100%%: %s", st.State)
	}
	if st = e.eval(t, t0.Add(sec(302))); st.State != StatePostTrafficHook {
		t.Fatalf("after the final step: %s", st.State)
	}
	if st = evalUntil(t, e, t0.Add(sec(303)), StatePostTrafficHook); st.State != StatePromoted {
		t.Fatalf("after post hook: %s %s", st.State, st.Reason)
	}
	got := calls()
	if len(got) != 2 || got[0].Phase != PhasePreTraffic || got[1].Phase != PhasePostTraffic ||
		got[0].RolloutID != st.ID || got[0].Route != "api" || got[0].Stable != "v1" || got[0].Candidate != "v2" {
		t.Errorf("hook calls %+v", got)
	}
}

func TestHookFailureRollsBack(t *testing.T) {
	srv, _ := hookServer(t)
	tests := []struct {
		name, path string
		timeout    time.Duration
		want       string
	}{
		{"fail", "/fail", 0, "answered 500 Internal Server Error: smoke test failed"},
		{"timeout", "/hang", 50 * time.Millisecond, "no answer within 50ms"},
		{"refused", "", 0, "post_traffic hook http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			sp := spec("AllAtOnce")
			u := srv.URL + tt.path
			if tt.path == "" {
				u = "http://127.0.0.1:1/hook"
			}
			sp.PostTrafficHook = &Hook{URL: u, Timeout: tt.timeout}
			e.ctrl.Start(bg, sp, t0)
			st := evalUntil(t, e, t0.Add(sec(1)), StatePostTrafficHook)
			if st.State != StateRolledBack || !strings.Contains(st.Reason, tt.want) {
				t.Fatalf("%s: %s, want %q", st.State, st.Reason, tt.want)
			}
			if got, want := fmtSplits(e.splits.list()), "[100 0]"; got != want {
				t.Errorf("splits %s, want %s", got, want)
			}
		})
	}
}

func TestPreTrafficHookFailureMovesNoTraffic(t *testing.T) {
	srv, _ := hookServer(t)
	e := newEnv(t, nil)
	sp := spec("Canary10Percent5Minutes")
	sp.PreTrafficHook = &Hook{URL: srv.URL + "/fail"}
	e.ctrl.Start(bg, sp, t0)
	st := evalUntil(t, e, t0.Add(sec(1)), StatePreTrafficHook)
	if st.State != StateRolledBack || st.Step != -1 {
		t.Fatalf("%s step %d", st.State, st.Step)
	}
	if got, want := fmtSplits(e.splits.list()), "[0]"; got != want {
		t.Errorf("splits %s, want %s", got, want)
	}
}
