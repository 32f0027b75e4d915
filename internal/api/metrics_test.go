package api_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"holdfast/internal/api"
	"holdfast/internal/metrics"
)

func TestPutMetricsIsAtomic(t *testing.T) {
	st, err := metrics.Open("", metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tok, _, err := api.EnsureToken(filepath.Join(t.TempDir(), "t"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&api.Server{Token: tok, Store: st}).Handler())
	defer srv.Close()
	f := &fixture{srv: srv, token: tok}
	now := time.Now().UTC().Format(time.RFC3339)

	for _, tc := range []struct{ name, body, want string }{
		{"infinite value", `{"Namespace":"app","MetricData":[{"MetricName":"ok","Value":1,"Timestamp":"` + now + `"},{"MetricName":"bad","Value":1e999}]}`, "body:"},
		{"second datum invalid", `{"Namespace":"app","MetricData":[{"MetricName":"ok","Value":1,"Timestamp":"` + now + `"},{"MetricName":"","Value":2}]}`, "MetricData[1]"},
		{"timestamp far in the future", `{"Namespace":"app","MetricData":[{"MetricName":"ok","Value":1,"Timestamp":"2999-01-01T00:00:00Z"}]}`, "MetricData[0]"},
		{"unknown field", `{"Namespace":"app","MetricData":[{"MetricName":"ok","Valu":1}]}`, "Valu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, body := f.raw(t, "PUT", "/api/v1/metrics", tok, tc.body)
			if got != 400 || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d body %q; want 400 containing %q", got, body, tc.want)
			}
		})
	}
	if ids := st.ListMetrics("app", ""); len(ids) != 0 {
		t.Fatalf("rejected calls stored %v", ids)
	}
	got, body := f.raw(t, "PUT", "/api/v1/metrics", tok, `{"Namespace":"app","MetricData":[{"MetricName":"ok","Value":1,"Timestamp":"`+now+`"}]}`)
	if got != 200 || !strings.Contains(body, `"stored": 1`) {
		t.Fatalf("good put: %d %s", got, body)
	}
	c := &api.Client{BaseURL: srv.URL, Token: tok}
	list, err := c.ListMetrics(context.Background(), "app", "")
	if err != nil || len(list) != 1 || list[0].MetricName != "ok" {
		t.Fatalf("ListMetrics = %+v, %v", list, err)
	}
}
