package orders

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Mock is the in-memory backend: the fixtures, plus whatever is created
// while it runs. It is safe for concurrent use.
type Mock struct {
	now func() time.Time

	mu        sync.Mutex
	customers map[int64]Customer
	orders    []Order // by id, ascending
	nextID    int64
}

var _ Backend = (*Mock)(nil)

// NewMock returns a mock holding the fixtures. now stamps created orders;
// nil means time.Now.
func NewMock(now func() time.Time) *Mock {
	if now == nil {
		now = time.Now
	}
	customers, orders := Fixtures()
	m := &Mock{now: now, customers: make(map[int64]Customer), orders: orders, nextID: int64(len(orders)) + 1}
	for _, c := range customers {
		m.customers[c.ID] = c
	}
	return m
}

// Name is BackendMock.
func (m *Mock) Name() string { return BackendMock }

// Ping always succeeds: memory does not go down.
func (m *Mock) Ping(context.Context) error { return nil }

// ListOrders returns a page of orders by id.
func (m *Mock) ListOrders(_ context.Context, limit, offset int) ([]Order, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.orders)
	lo := min(offset, n)
	hi := min(lo+limit, n)
	return cloneOrders(m.orders[lo:hi]), n, nil
}

// GetOrder returns order id.
func (m *Mock) GetOrder(_ context.Context, id int64) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := slices.BinarySearchFunc(m.orders, id, func(o Order, id int64) int { return cmp.Compare(o.ID, id) })
	if !ok {
		return Order{}, fmt.Errorf("order %d: %w", id, ErrNotFound)
	}
	return cloneOrder(m.orders[i]), nil
}

// CreateOrder stores in as a pending order.
func (m *Mock) CreateOrder(_ context.Context, in NewOrder) (Order, error) {
	if err := in.Validate(); err != nil {
		return Order{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.customers[in.CustomerID]; !ok {
		return Order{}, &ValidationError{"customer_id", fmt.Sprintf("customer %d does not exist", in.CustomerID)}
	}
	items := slices.Clone(in.Items)
	o := Order{
		ID:         m.nextID,
		CustomerID: in.CustomerID,
		Status:     StatusPending,
		Items:      items,
		TotalCents: total(items),
		CreatedAt:  timestamp(m.now()),
	}
	m.nextID++
	m.orders = append(m.orders, o)
	return cloneOrder(o), nil
}

// CustomerOrders returns the customer's orders by id.
func (m *Mock) CustomerOrders(_ context.Context, customerID int64) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.customers[customerID]; !ok {
		return nil, fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	out := []Order{}
	for _, o := range m.orders {
		if o.CustomerID == customerID {
			out = append(out, cloneOrder(o))
		}
	}
	return out, nil
}

func cloneOrder(o Order) Order {
	o.Items = slices.Clone(o.Items)
	return o
}

func cloneOrders(src []Order) []Order {
	out := make([]Order, len(src))
	for i, o := range src {
		out[i] = cloneOrder(o)
	}
	return out
}
