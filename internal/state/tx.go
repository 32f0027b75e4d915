package state

import (
	"context"
	"database/sql"
)

// Tx runs fn in one transaction of the store, committing when fn returns
// nil. It is for capabilities that keep their own tables in this file (the
// versioned flag store): their state and their ledger entries
// (RecordChangeTx) then commit together.
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.tx(ctx, fn) }

// RecordChangeTx appends c to the ledger inside tx and returns it with its id.
func RecordChangeTx(ctx context.Context, tx *sql.Tx, c Change) (Change, error) {
	return recordChange(ctx, tx, c)
}

// Query runs a read-only query outside a transaction.
func (s *Store) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, query, args...)
}
