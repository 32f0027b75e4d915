package orders_test

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"holdfast/examples/orders"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			var got map[string]string
			res := c.get("/healthz", http.StatusOK, &got)
			if want := map[string]string{"status": "ok", "backend": b.name}; !reflect.DeepEqual(got, want) {
				t.Errorf("/healthz = %v, want %v", got, want)
			}
			if got, want := res.header.Get(orders.HeaderBackend), b.name; got != want {
				t.Errorf("%s = %q, want %q", orders.HeaderBackend, got, want)
			}
		})
	}
}

func TestListOrders(t *testing.T) {
	t.Parallel()
	seq := func(lo, hi int64) []int64 {
		var s []int64
		for i := lo; i <= hi; i++ {
			s = append(s, i)
		}
		return s
	}
	tests := []struct {
		query      string
		wantIDs    []int64
		wantLimit  int
		wantOffset int
	}{
		{"", seq(1, 20), 20, 0},
		{"?limit=5", seq(1, 5), 5, 0},
		{"?limit=5&offset=17", seq(18, 20), 5, 17},
		{"?offset=100", []int64{}, 20, 100},
		{"?limit=100", seq(1, 20), 100, 0},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			for _, tt := range tests {
				var got orderList
				c.get("/orders"+tt.query, http.StatusOK, &got)
				if !reflect.DeepEqual(ids(got.Orders), tt.wantIDs) {
					t.Errorf("GET /orders%s ids = %v, want %v", tt.query, ids(got.Orders), tt.wantIDs)
				}
				if got, want := [3]int{got.Limit, got.Offset, got.Total}, [3]int{tt.wantLimit, tt.wantOffset, 20}; got != want {
					t.Errorf("GET /orders%s limit, offset, total = %v, want %v", tt.query, got, want)
				}
			}
		})
	}
}

func TestBadParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path       string
		wantStatus int
		wantField  string
	}{
		{"/orders?limit=0", 400, "limit"},
		{"/orders?limit=101", 400, "limit"},
		{"/orders?limit=ten", 400, "limit"},
		{"/orders?offset=-1", 400, "offset"},
		{"/orders/abc", 400, "id"},
		{"/orders/0", 400, "id"},
		{"/orders/999", 404, ""},
		{"/customers/x/orders", 400, "id"},
		{"/customers/99/orders", 404, ""},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			for _, tt := range tests {
				var got apiError
				res := c.do(http.MethodGet, tt.path, "")
				res.expect(t, tt.wantStatus, &got)
				if got.Field != tt.wantField || got.Error == "" {
					t.Errorf("GET %s = %+v, want field %q and a message", tt.path, got, tt.wantField)
				}
			}
		})
	}
}

func TestGetOrder(t *testing.T) {
	t.Parallel()
	_, fixtures := orders.Fixtures()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			for _, want := range []orders.Order{fixtures[0], fixtures[6], fixtures[19]} {
				var got orders.Order
				c.get(fmt.Sprintf("/orders/%d", want.ID), http.StatusOK, &got)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("GET /orders/%d = %+v, want %+v", want.ID, got, want)
				}
			}
		})
	}
}

func TestCustomerOrders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		customer int
		want     []int64
	}{
		{1, []int64{1, 5, 9, 13, 17}},
		{4, []int64{4, 8, 12, 16, 20}},
		{5, []int64{}}, // a customer without orders
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			for _, tt := range tests {
				var got struct {
					CustomerID int            `json:"customer_id"`
					Orders     []orders.Order `json:"orders"`
				}
				c.get(fmt.Sprintf("/customers/%d/orders", tt.customer), http.StatusOK, &got)
				if got.CustomerID != tt.customer || !reflect.DeepEqual(ids(got.Orders), tt.want) {
					t.Errorf("customer %d: got customer %d orders %v, want %v", tt.customer, got.CustomerID, ids(got.Orders), tt.want)
				}
			}
		})
	}
}

func TestCreateOrder(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			res := c.do(http.MethodPost, "/orders",
				`{"customer_id": 5, "items": [{"sku": "KB-101", "quantity": 2, "unit_price_cents": 4999}, {"sku": "PAD", "quantity": 1, "unit_price_cents": 0}]}`)
			var created orders.Order
			res.expect(t, http.StatusCreated, &created)
			want := orders.Order{
				ID:         21,
				CustomerID: 5,
				Status:     orders.StatusPending,
				Items:      []orders.Item{{SKU: "KB-101", Quantity: 2, UnitPriceCents: 4999}, {SKU: "PAD", Quantity: 1, UnitPriceCents: 0}},
				TotalCents: 9998,
				CreatedAt:  testNow().Truncate(time.Microsecond), // as PostgreSQL keeps it
			}
			if !reflect.DeepEqual(created, want) {
				t.Fatalf("created %+v, want %+v", created, want)
			}
			if got, want := res.header.Get("Location"), "/orders/21"; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			var got orders.Order
			c.get("/orders/21", http.StatusOK, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GET /orders/21 = %+v, want %+v", got, want)
			}
			var list orderList
			c.get("/customers/5/orders", http.StatusOK, &list)
			if got, want := ids(list.Orders), []int64{21}; !reflect.DeepEqual(got, want) {
				t.Errorf("customer 5 orders = %v, want %v", got, want)
			}
			c.get("/orders?offset=20", http.StatusOK, &list)
			if got, want := ids(list.Orders), []int64{21}; !reflect.DeepEqual(got, want) || list.Total != 21 {
				t.Errorf("GET /orders?offset=20 = %v total %d, want %v total 21", got, list.Total, want)
			}
		})
	}
}

func TestCreateOrderRejectsBadInput(t *testing.T) {
	t.Parallel()
	item := `{"sku": "KB-101", "quantity": 1, "unit_price_cents": 4999}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantField  string
		wantMsg    string
	}{
		{"no body", "", 400, "body", "required"},
		{"malformed", `{"customer_id": 1,`, 400, "body", "JSON"},
		{"not an object", `[1, 2]`, 400, "body", "want an object"},
		{"two objects", `{"customer_id": 1, "items": [` + item + `]} {}`, 400, "body", "trailing"},
		{"no customer", `{"items": [` + item + `]}`, 400, "customer_id", "required"},
		{"customer as string", `{"customer_id": "1", "items": [` + item + `]}`, 400, "customer_id", "want an integer"},
		{"unknown customer", `{"customer_id": 99, "items": [` + item + `]}`, 400, "customer_id", "customer 99 does not exist"},
		{"no items", `{"customer_id": 1}`, 400, "items", "at least one item"},
		{"empty items", `{"customer_id": 1, "items": []}`, 400, "items", "at least one item"},
		{"empty sku", `{"customer_id": 1, "items": [{"sku": " ", "quantity": 1, "unit_price_cents": 1}]}`, 400, "items[0].sku", "required"},
		{"zero quantity", `{"customer_id": 1, "items": [` + item + `, {"sku": "A", "quantity": 0, "unit_price_cents": 1}]}`, 400, "items[1].quantity", "between 1 and 1000"},
		{"negative price", `{"customer_id": 1, "items": [{"sku": "A", "quantity": 1, "unit_price_cents": -5}]}`, 400, "items[0].unit_price_cents", "between 0"},
		{"fractional quantity", `{"customer_id": 1, "items": [{"sku": "A", "quantity": 1.5, "unit_price_cents": 1}]}`, 400, "items.quantity", "want an integer"},
		{"unknown field", `{"customer_id": 1, "items": [` + item + `], "coupon": "FREE"}`, 400, "coupon", "unknown field"},
		{"huge body", `{"customer_id": 1, "items": [` + item + `], "x": "` + strings.Repeat("a", orders.MaxBodyBytes) + `"}`, 413, "", "larger than"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			for _, tt := range tests {
				var got apiError
				res := c.do(http.MethodPost, "/orders", tt.body)
				res.expect(t, tt.wantStatus, &got)
				if got.Field != tt.wantField || !strings.Contains(got.Error, tt.wantMsg) {
					t.Errorf("%s: got %+v, want field %q and a message containing %q", tt.name, got, tt.wantField, tt.wantMsg)
				}
			}
			var list orderList
			c.get("/orders", http.StatusOK, &list)
			if list.Total != orders.FixtureOrderCount {
				t.Errorf("after rejected creates, %d orders, want %d", list.Total, orders.FixtureOrderCount)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := serve(t, orders.Options{Backend: b.new(t)})
			tests := []struct {
				method, path string
				reqID        string
			}{
				{"GET", "/orders/1", "req-123"},
				{"GET", "/orders/999", "req-404"},
				{"POST", "/orders", "req-400"},
				{"GET", "/admin/faults", ""},
				{"DELETE", "/orders/1", "req-405"}, // answered by the router
			}
			for _, tt := range tests {
				var header []string
				if tt.reqID != "" {
					header = []string{orders.HeaderRequestID, tt.reqID}
				}
				res := c.do(tt.method, tt.path, "", header...)
				if got := res.header.Get(orders.HeaderBackend); got != b.name {
					t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, orders.HeaderBackend, got, b.name)
				}
				if got := res.header.Get(orders.HeaderRequestID); got != tt.reqID {
					t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, orders.HeaderRequestID, got, tt.reqID)
				}
			}
		})
	}
}

// Both backends answer the fixtures byte for byte alike, so a gateway
// comparing them sees no difference.
func TestBackendsAgree(t *testing.T) {
	t.Parallel()
	mock := serve(t, orders.Options{Backend: backends[0].new(t)})
	pg := serve(t, orders.Options{Backend: backends[1].new(t)})
	for _, path := range []string{"/orders?limit=100", "/orders/7", "/customers/2/orders", "/customers/5/orders", "/orders/404"} {
		m, p := mock.do("GET", path, ""), pg.do("GET", path, "")
		if m.status != p.status || !bytes.Equal(m.body, p.body) {
			t.Errorf("GET %s:\nmock     %d %s\npostgres %d %s", path, m.status, m.body, p.status, p.body)
		}
	}
}
