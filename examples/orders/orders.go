// Package orders is the sample service holdfast is put in front of: a small
// JSON API over customers and their orders, with two interchangeable
// backends. Mock keeps deterministic fixtures in memory (the service before
// its cutover); Postgres keeps them in real tables (after it). Both answer
// the same fixtures the same way, so the gateway can compare them, and every
// response says which one answered in the X-Backend header.
//
// The handler can inject faults (a fraction of requests fail, extra latency
// on every request) from Options, from the binary's flags, or at runtime via
// POST /admin/faults, so tests and `holdfast demo` can break the service on
// purpose.
package orders

import (
	"context"
	"errors"
	"time"
)

// Backend names, as reported in X-Backend and /healthz.
const (
	BackendMock     = "mock"
	BackendPostgres = "postgres"
)

// Backend stores customers and orders. Listing is ordered by order id.
type Backend interface {
	// Name is BackendMock or BackendPostgres.
	Name() string
	// Ping reports whether the backend can serve requests.
	Ping(ctx context.Context) error
	// ListOrders returns up to limit orders after skipping offset, and the
	// total number of orders.
	ListOrders(ctx context.Context, limit, offset int) (orders []Order, total int, err error)
	// GetOrder returns one order or an error wrapping ErrNotFound.
	GetOrder(ctx context.Context, id int64) (Order, error)
	// CreateOrder stores a validated order; an unknown customer is a
	// *ValidationError on customer_id.
	CreateOrder(ctx context.Context, in NewOrder) (Order, error)
	// CustomerOrders returns a customer's orders, or an error wrapping
	// ErrNotFound when the customer does not exist.
	CustomerOrders(ctx context.Context, customerID int64) ([]Order, error)
}

// ErrNotFound is wrapped by backend errors for a missing order or customer.
var ErrNotFound = errors.New("not found")

// ValidationError is bad client input in one field of a request.
type ValidationError struct {
	Field   string // JSON path, e.g. "items[1].quantity"
	Message string // what is wrong and what would be right
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Customer is someone who places orders.
type Customer struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Item is one line of an order.
type Item struct {
	SKU            string `json:"sku"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Order statuses.
const (
	StatusPending = "pending"
	StatusPaid    = "paid"
	StatusShipped = "shipped"
)

// Order is a stored order. TotalCents is derived from Items.
type Order struct {
	ID         int64     `json:"id"`
	CustomerID int64     `json:"customer_id"`
	Status     string    `json:"status"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
}

// total sums the order's lines.
func total(items []Item) int64 {
	var t int64
	for _, it := range items {
		t += int64(it.Quantity) * it.UnitPriceCents
	}
	return t
}

// timestamp is how both backends store time: UTC, to the microsecond, as
// PostgreSQL's timestamptz does.
func timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
