package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenBackend returns the backend named kind (BackendMock or
// BackendPostgres). For postgres it connects to databaseURL, checks that the
// database answers and runs Migrate. Call release when done with the backend.
func OpenBackend(ctx context.Context, kind, databaseURL string) (b Backend, release func(), err error) {
	switch kind {
	case BackendMock:
		return NewMock(nil), func() {}, nil
	case BackendPostgres:
	default:
		return nil, nil, fmt.Errorf("unknown backend %q; want %q or %q", kind, BackendMock, BackendPostgres)
	}
	if databaseURL == "" {
		return nil, nil, errors.New("no database URL; give one such as postgres://user:pass@127.0.0.1:5432/orders")
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("database URL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("reach the database: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return NewPostgres(pool, nil), pool.Close, nil
}
