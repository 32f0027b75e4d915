package orders_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"holdfast/examples/orders"
	"holdfast/internal/pgtest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	db := pgtest.Shared(t)
	pool := pgtest.Pool(t, db.DSN())
	ctx := t.Context()

	// Several replicas starting at once, then a restart.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = orders.Migrate(ctx, pool) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Migrate: %v", err)
	}
	if err := orders.Migrate(ctx, pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}

	customers, fixtures := orders.Fixtures()
	items := 0
	for _, o := range fixtures {
		items += len(o.Items)
	}
	tests := []struct {
		query string
		want  int
	}{
		{"SELECT count(*) FROM customers", len(customers)},
		{"SELECT count(*) FROM orders", len(fixtures)},
		{"SELECT count(*) FROM order_items", items},
		{"SELECT count(*) FROM pg_indexes WHERE indexname IN ('orders_customer_id_id_idx', 'order_items_sku_idx')", 2},
		{`SELECT count(*) FROM information_schema.table_constraints
		  WHERE constraint_type = 'FOREIGN KEY' AND table_name IN ('orders', 'order_items')`, 2},
	}
	for _, tt := range tests {
		var got int
		if err := pool.QueryRow(ctx, tt.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if got != tt.want {
			t.Errorf("%s = %d, want %d", tt.query, got, tt.want)
		}
	}

	// The id sequence continues after the fixtures, as the mock's does.
	o, err := orders.NewPostgres(pool, nil).CreateOrder(ctx, orders.NewOrder{
		CustomerID: 1, Items: []orders.Item{{SKU: "X", Quantity: 1, UnitPriceCents: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.ID, int64(len(fixtures)+1); got != want {
		t.Errorf("first created order id = %d, want %d", got, want)
	}
}

// A rejected order leaves no row behind: order and items are one
// transaction.
func TestCreateOrderIsAtomic(t *testing.T) {
	t.Parallel()
	db := pgtest.Shared(t)
	pool := pgtest.Pool(t, db.DSN())
	ctx := t.Context()
	if err := orders.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	backend := orders.NewPostgres(pool, nil)
	_, err := backend.CreateOrder(ctx, orders.NewOrder{
		CustomerID: 99, Items: []orders.Item{{SKU: "X", Quantity: 1, UnitPriceCents: 1}},
	})
	var verr *orders.ValidationError
	if !errors.As(err, &verr) || verr.Field != "customer_id" {
		t.Fatalf("CreateOrder for customer 99: %v, want a ValidationError on customer_id", err)
	}
	// The second line fails inside the database, after the order row went
	// in: nothing of the order may remain.
	if _, err := pool.Exec(ctx, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sku = 'BOOM' THEN RAISE EXCEPTION 'boom'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER boom BEFORE INSERT ON order_items FOR EACH ROW EXECUTE FUNCTION boom()`); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.CreateOrder(ctx, orders.NewOrder{
		CustomerID: 1, Items: []orders.Item{{SKU: "X", Quantity: 1, UnitPriceCents: 1}, {SKU: "BOOM", Quantity: 1, UnitPriceCents: 1}},
	}); err == nil {
		t.Fatal("CreateOrder with a failing line succeeded")
	}
	var n, items int
	if err := pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items WHERE sku = 'X')").Scan(&n, &items); err != nil {
		t.Fatal(err)
	}
	if n != orders.FixtureOrderCount || items != 0 {
		t.Errorf("after failed creates: %d orders, %d items of sku X; want %d and 0", n, items, orders.FixtureOrderCount)
	}
}

// When the database goes away, /healthz says so and requests fail with a
// 500 that does not leak database details.
func TestPostgresDown(t *testing.T) {
	t.Parallel()
	cluster := pgtest.Start(t)
	pool := pgtest.Pool(t, cluster.DSN(cluster.Database()))
	if err := orders.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	c := serve(t, orders.Options{Backend: orders.NewPostgres(pool, nil)})
	c.get("/healthz", http.StatusOK, nil)

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	var health map[string]string
	c.get("/healthz", http.StatusServiceUnavailable, &health)
	if health["status"] != "unavailable" || health["backend"] != orders.BackendPostgres || health["error"] == "" {
		t.Errorf("/healthz with the database down = %v, want status unavailable, backend postgres and an error", health)
	}
	var e apiError
	c.get("/orders", http.StatusInternalServerError, &e)
	if got, want := e.Error, "postgres backend failed; see the service log"; got != want {
		t.Errorf("GET /orders with the database down: error %q, want %q", got, want)
	}
}

func TestOpenBackend(t *testing.T) {
	t.Parallel()
	db := pgtest.Shared(t)
	tests := []struct {
		kind, url string
		wantName  string
		wantErr   bool
	}{
		{orders.BackendMock, "", orders.BackendMock, false},
		{orders.BackendPostgres, db.DSN(), orders.BackendPostgres, false},
		{orders.BackendPostgres, "", "", true},
		{"oracle", "", "", true},
		{orders.BackendPostgres, db.Cluster.DSNFor("nobody", "x", db.Name), "", true},
	}
	for _, tt := range tests {
		b, release, err := orders.OpenBackend(t.Context(), tt.kind, tt.url)
		if tt.wantErr {
			if err == nil {
				release()
				t.Errorf("OpenBackend(%q, %q) succeeded, want an error", tt.kind, tt.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("OpenBackend(%q): %v", tt.kind, err)
			continue
		}
		if got := b.Name(); got != tt.wantName {
			t.Errorf("OpenBackend(%q).Name() = %q, want %q", tt.kind, got, tt.wantName)
		}
		release()
	}
}
