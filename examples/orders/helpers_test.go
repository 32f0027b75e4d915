package orders_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"holdfast/examples/orders"
	"holdfast/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testNow stamps orders created in tests.
var testNow = func() time.Time { return time.Date(2025, time.March, 1, 12, 0, 0, 123456789, time.UTC) }

// backends are the two implementations every API test runs against.
var backends = []struct {
	name string
	new  func(t *testing.T) orders.Backend
}{
	{orders.BackendMock, func(t *testing.T) orders.Backend { return orders.NewMock(testNow) }},
	{orders.BackendPostgres, newPostgres},
}

// newPostgres returns a Postgres backend on a fresh, migrated database of
// the package's shared cluster.
func newPostgres(t *testing.T) orders.Backend {
	t.Helper()
	db := pgtest.Shared(t)
	pool := pgtest.Pool(t, db.DSN())
	if err := orders.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return orders.NewPostgres(pool, testNow)
}

// client talks to a real HTTP server running the handler.
type client struct {
	t    *testing.T
	base string
}

// serve starts the handler on 127.0.0.1 for this test.
func serve(t *testing.T, opts orders.Options) *client {
	t.Helper()
	h, err := orders.NewHandler(opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body "" sends none. Header pairs follow the body.
func (c *client) do(method, path, body string, header ...string) response {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// get sends a GET and decodes a JSON answer of status want into v.
func (c *client) get(path string, want int, v any) response {
	c.t.Helper()
	res := c.do(http.MethodGet, path, "")
	res.expect(c.t, want, v)
	return res
}

// expect checks the status and decodes the JSON body into v (if non-nil).
func (r response) expect(t *testing.T, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body: %s", r.status, want, r.body)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

// orderList is the body of GET /orders.
type orderList struct {
	Orders []orders.Order `json:"orders"`
	Limit  int            `json:"limit"`
	Offset int            `json:"offset"`
	Total  int            `json:"total"`
}

func ids(os []orders.Order) []int64 {
	out := []int64{}
	for _, o := range os {
		out = append(out, o.ID)
	}
	return out
}
