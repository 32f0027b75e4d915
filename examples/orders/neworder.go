package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Limits on a new order.
const (
	MaxItems          = 100
	MaxQuantity       = 1000
	MaxSKULength      = 64
	MaxUnitPriceCents = 100_000_000
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
)

// NewOrder is the body of POST /orders.
type NewOrder struct {
	CustomerID int64  `json:"customer_id"`
	Items      []Item `json:"items"`
}

// Validate returns the first problem as a *ValidationError naming the field.
// Whether the customer exists is the backend's to check.
func (n NewOrder) Validate() error {
	if n.CustomerID <= 0 {
		return &ValidationError{"customer_id", "required: a positive integer id of an existing customer"}
	}
	if len(n.Items) == 0 {
		return &ValidationError{"items", "required: at least one item {sku, quantity, unit_price_cents}"}
	}
	if len(n.Items) > MaxItems {
		return &ValidationError{"items", fmt.Sprintf("%d items; at most %d per order", len(n.Items), MaxItems)}
	}
	for i, it := range n.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		switch {
		case strings.TrimSpace(it.SKU) == "":
			return &ValidationError{field("sku"), "required: a non-empty product code"}
		case len(it.SKU) > MaxSKULength:
			return &ValidationError{field("sku"), fmt.Sprintf("%d bytes long; at most %d", len(it.SKU), MaxSKULength)}
		case it.Quantity < 1 || it.Quantity > MaxQuantity:
			return &ValidationError{field("quantity"), fmt.Sprintf("%d; must be between 1 and %d", it.Quantity, MaxQuantity)}
		case it.UnitPriceCents < 0 || it.UnitPriceCents > MaxUnitPriceCents:
			return &ValidationError{field("unit_price_cents"), fmt.Sprintf("%d; must be between 0 and %d", it.UnitPriceCents, MaxUnitPriceCents)}
		}
	}
	return nil
}

// DecodeNewOrder reads and validates a POST /orders body. Bad input is a
// *ValidationError; a body over MaxBodyBytes is an *http.MaxBytesError when
// r was wrapped with http.MaxBytesReader.
func DecodeNewOrder(r io.Reader) (NewOrder, error) {
	var n NewOrder
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return NewOrder{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewOrder{}, &ValidationError{"body", "trailing data after the JSON object; send exactly one object"}
	}
	return n, n.Validate()
}

// decodeError turns a json error into a *ValidationError that names the
// field, or passes through what is not the client's JSON (read errors).
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return &ValidationError{"body", `required: a JSON object {"customer_id": ..., "items": [...]}`}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{"body", "truncated JSON"}
	case errors.As(err, &syntax):
		return &ValidationError{"body", fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &ValidationError{field, fmt.Sprintf("got a JSON %s; want %s", typ.Value, jsonKind(typ.Type))}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ValidationError{strings.Trim(name, `"`), "unknown field; an order has customer_id and items, an item has sku, quantity and unit_price_cents"}
	}
	return err
}

// jsonKind describes a Go type as the JSON a client should send.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
