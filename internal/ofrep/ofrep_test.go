package ofrep

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"holdfast/internal/flagstore"
	"holdfast/internal/state"
)

// FuzzReadContext: any body gets either a context of scalars or a 400
// with PARSE_ERROR or INVALID_CONTEXT; never a panic.
func FuzzReadContext(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"context":{"targetingKey":"a","plan":"gold","n":1,"b":true}}`,
		`{"context":{"targetingKey":1}}`, `{"context":[]}`, `{"context":{"a":{"b":1}}}`, `{bad`, `null`, `{"context":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/ofrep/v1/evaluate/flags", strings.NewReader(body))
		ec, fail := readContext(r)
		if fail != nil {
			if fail.status != http.StatusBadRequest || (fail.body.ErrorCode != CodeParseError && fail.body.ErrorCode != CodeInvalidContext) {
				t.Fatalf("%q: %+v", body, fail)
			}
			return
		}
		for k, v := range ec.Values {
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Fatalf("%q: context.%s is %T", body, k, v)
			}
		}
	})
}

// BenchmarkSingle is one OFREP evaluation through the handler, against
// the in-memory snapshot of a real flag store.
func BenchmarkSingle(b *testing.B) {
	ctx := context.Background()
	st, err := state.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fs, err := flagstore.New(flagstore.Config{App: "bench", Profile: "flags", DefaultEnvironment: "prod"},
		flagstore.NewStateStore(st, "bench", "flags"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := fs.PutEnvironment(ctx, flagstore.Environment{Name: "prod"}, "bench", now); err != nil {
		b.Fatal(err)
	}
	v, err := fs.CreateVersion(ctx, []byte(`{"version":"1","flags":{"checkout":{"name":"c"}},"values":{"checkout":{"enabled":false,
	  "_variants":[{"name":"beta","rule":"(split pct::50)","enabled":true},{"name":"Default","enabled":false}]}}}`), "bench", "bench", now)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fs.StartDeployment(ctx, flagstore.DeployRequest{Environment: "prod", Version: v.Number, Strategy: flagstore.AllAtOnce}, now); err != nil {
		b.Fatal(err)
	}
	h := &Handler{Eval: func() Evaluator { return fs }, Env: func() string { return "prod" }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", h.Single)
	body := `{"context":{"targetingKey":"client-42","plan":"gold"}}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", "/ofrep/v1/evaluate/flags/checkout", strings.NewReader(body)))
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
