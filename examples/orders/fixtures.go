package orders

import "time"

// fixtureEpoch is when the first fixture order was placed.
var fixtureEpoch = time.Date(2025, time.January, 6, 9, 0, 0, 0, time.UTC)

// FixtureOrderCount is how many orders the fixtures hold.
const FixtureOrderCount = 20

// fixtureCustomerCount customers; the last one has no orders.
const fixtureCustomerCount = 5

var fixtureCustomers = [fixtureCustomerCount]Customer{
	{1, "Ada Lovelace", "ada@example.com"},
	{2, "Grace Hopper", "grace@example.com"},
	{3, "Alan Turing", "alan@example.com"},
	{4, "Edsger Dijkstra", "edsger@example.com"},
	{5, "Barbara Liskov", "barbara@example.com"},
}

var fixtureCatalog = []Item{
	{SKU: "KB-101", UnitPriceCents: 4999},
	{SKU: "MS-202", UnitPriceCents: 1999},
	{SKU: "MON-27", UnitPriceCents: 18999},
	{SKU: "CBL-USB", UnitPriceCents: 999},
	{SKU: "DOCK-4", UnitPriceCents: 12999},
}

var fixtureStatuses = []string{StatusPending, StatusPaid, StatusShipped}

// Fixtures returns the customers and orders both backends start with. They
// are the same on every call: order i (1-based) belongs to customer
// (i-1)%4+1, was placed 90 minutes after order i-1, and has 1 to 3 lines.
func Fixtures() ([]Customer, []Order) {
	customers := append([]Customer(nil), fixtureCustomers[:]...)
	orders := make([]Order, 0, FixtureOrderCount)
	for i := 1; i <= FixtureOrderCount; i++ {
		items := make([]Item, 0, 3)
		for j := range i%3 + 1 {
			it := fixtureCatalog[(i+2*j)%len(fixtureCatalog)]
			it.Quantity = (i+j)%4 + 1
			items = append(items, it)
		}
		orders = append(orders, Order{
			ID:         int64(i),
			CustomerID: int64((i-1)%4 + 1),
			Status:     fixtureStatuses[(i-1)%len(fixtureStatuses)],
			Items:      items,
			TotalCents: total(items),
			CreatedAt:  fixtureEpoch.Add(time.Duration(i-1) * 90 * time.Minute),
		})
	}
	return customers, orders
}
