package orders

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is what the Postgres backend needs from a connection pool.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Ping(ctx context.Context) error
}

var _ DB = (*pgxpool.Pool)(nil)

// Postgres is the backend on real tables (see schema.sql). Run Migrate
// before serving.
type Postgres struct {
	db  DB
	now func() time.Time
}

var _ Backend = (*Postgres)(nil)

// NewPostgres returns a backend on db. now stamps created orders; nil
// means time.Now.
func NewPostgres(db DB, now func() time.Time) *Postgres {
	if now == nil {
		now = time.Now
	}
	return &Postgres{db: db, now: now}
}

// Name is BackendPostgres.
func (p *Postgres) Name() string { return BackendPostgres }

// Ping checks that the database answers.
func (p *Postgres) Ping(ctx context.Context) error { return p.db.Ping(ctx) }

// selectOrders wraps a query on orders (%s) and attaches each order's
// lines, in one round trip.
const selectOrders = `SELECT o.id, o.customer_id, o.status, o.created_at,
       coalesce(json_agg(json_build_object('sku', i.sku, 'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents)
                ORDER BY i.line) FILTER (WHERE i.order_id IS NOT NULL), '[]')
FROM (%s) o
LEFT JOIN order_items i ON i.order_id = o.id
GROUP BY o.id, o.customer_id, o.status, o.created_at
ORDER BY o.id`

var (
	listOrdersSQL     = fmt.Sprintf(selectOrders, "SELECT * FROM orders ORDER BY id LIMIT $1 OFFSET $2")
	getOrderSQL       = fmt.Sprintf(selectOrders, "SELECT * FROM orders WHERE id = $1")
	customerOrdersSQL = fmt.Sprintf(selectOrders, "SELECT * FROM orders WHERE customer_id = $1")
)

// ListOrders returns a page of orders by id.
func (p *Postgres) ListOrders(ctx context.Context, limit, offset int) ([]Order, int, error) {
	orders, err := p.queryOrders(ctx, listOrdersSQL, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	var n int
	if err := p.db.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	return orders, n, nil
}

// GetOrder returns order id.
func (p *Postgres) GetOrder(ctx context.Context, id int64) (Order, error) {
	orders, err := p.queryOrders(ctx, getOrderSQL, id)
	if err != nil {
		return Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	if len(orders) == 0 {
		return Order{}, fmt.Errorf("order %d: %w", id, ErrNotFound)
	}
	return orders[0], nil
}

// CustomerOrders returns the customer's orders by id.
func (p *Postgres) CustomerOrders(ctx context.Context, customerID int64) ([]Order, error) {
	var exists bool
	if err := p.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)", customerID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look up customer %d: %w", customerID, err)
	}
	if !exists {
		return nil, fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	orders, err := p.queryOrders(ctx, customerOrdersSQL, customerID)
	if err != nil {
		return nil, fmt.Errorf("orders of customer %d: %w", customerID, err)
	}
	return orders, nil
}

// CreateOrder stores in as a pending order and its lines in one
// transaction.
func (p *Postgres) CreateOrder(ctx context.Context, in NewOrder) (Order, error) {
	if err := in.Validate(); err != nil {
		return Order{}, err
	}
	o := Order{
		CustomerID: in.CustomerID,
		Status:     StatusPending,
		Items:      append([]Item(nil), in.Items...),
		TotalCents: total(in.Items),
		CreatedAt:  timestamp(p.now()),
	}
	skus := make([]string, len(in.Items))
	quantities := make([]int32, len(in.Items))
	prices := make([]int64, len(in.Items))
	for i, it := range in.Items {
		skus[i], quantities[i], prices[i] = it.SKU, int32(it.Quantity), it.UnitPriceCents
	}
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			"INSERT INTO orders (customer_id, status, created_at) VALUES ($1, $2, $3) RETURNING id",
			o.CustomerID, o.Status, o.CreatedAt).Scan(&o.ID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
SELECT $1, t.line, t.sku, t.quantity, t.price
FROM unnest($2::text[], $3::int[], $4::bigint[]) WITH ORDINALITY AS t(sku, quantity, price, line)`,
			o.ID, skus, quantities, prices)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "orders_customer_id_fkey" {
		return Order{}, &ValidationError{"customer_id", fmt.Sprintf("customer %d does not exist", in.CustomerID)}
	}
	if err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	return o, nil
}

func (p *Postgres) queryOrders(ctx context.Context, sql string, args ...any) ([]Order, error) {
	rows, err := p.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		var o Order
		err := row.Scan(&o.ID, &o.CustomerID, &o.Status, &o.CreatedAt, &o.Items)
		o.CreatedAt = o.CreatedAt.UTC()
		o.TotalCents = total(o.Items)
		return o, err
	})
	if err != nil {
		return nil, err
	}
	if orders == nil {
		orders = []Order{}
	}
	return orders, nil
}

//go:embed schema.sql
var schemaSQL string

// migrateLockKey is the advisory lock that serialises concurrent Migrate
// calls (several replicas starting at once).
const migrateLockKey int64 = 0x6f7264657273 // "orders"

// Migrate creates the schema if it is missing and inserts the fixtures
// that are missing, so a fresh database answers like a fresh Mock. It is
// idempotent and safe to run from several processes at once.
func Migrate(ctx context.Context, db DB) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, schemaSQL); err != nil {
			return fmt.Errorf("apply schema.sql: %w", err)
		}
		return seed(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("migrate orders schema: %w", err)
	}
	return nil
}

// seed inserts the fixtures that are missing and moves the id sequences
// past them.
func seed(ctx context.Context, tx pgx.Tx) error {
	customers, orders := Fixtures()
	b := &pgx.Batch{}
	for _, c := range customers {
		b.Queue("INSERT INTO customers (id, name, email) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", c.ID, c.Name, c.Email)
	}
	for _, o := range orders {
		b.Queue("INSERT INTO orders (id, customer_id, status, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			o.ID, o.CustomerID, o.Status, o.CreatedAt)
		for i, it := range o.Items {
			b.Queue(`INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, o.ID, i+1, it.SKU, it.Quantity, it.UnitPriceCents)
		}
	}
	for _, table := range []string{"customers", "orders"} {
		b.Queue(fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), (SELECT max(id) FROM %[1]s))", table))
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("seed fixtures: %w", err)
	}
	return nil
}
