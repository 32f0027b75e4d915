package state

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; never edit one that has shipped, add a new
// one. The index + 1 is the schema version.
var migrations = []string{
	// 1: flags and the change ledger.
	`CREATE TABLE flags (
		name        TEXT PRIMARY KEY,
		description TEXT NOT NULL DEFAULT '',
		enabled     INTEGER NOT NULL,
		version     INTEGER NOT NULL DEFAULT 1,
		updated_at  INTEGER NOT NULL,
		updated_by  TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE changes (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		at       INTEGER NOT NULL,
		kind     TEXT NOT NULL,
		subject  TEXT NOT NULL,
		action   TEXT NOT NULL,
		actor    TEXT NOT NULL,
		reason   TEXT NOT NULL DEFAULT '',
		detail   TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX changes_subject ON changes(kind, subject, id);`,
	// 2: the versioned flag store (internal/flagstore); its ledger entries go
	// to changes.
	`CREATE TABLE flagstore_versions (
		app TEXT NOT NULL, profile TEXT NOT NULL, number INTEGER NOT NULL,
		description TEXT NOT NULL, content BLOB NOT NULL, actor TEXT NOT NULL, created_at INTEGER NOT NULL,
		PRIMARY KEY (app, profile, number)
	);
	CREATE TABLE flagstore_environments (
		app TEXT NOT NULL, profile TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
		PRIMARY KEY (app, profile, name)
	);
	CREATE TABLE flagstore_deployments (
		app TEXT NOT NULL, profile TEXT NOT NULL, environment TEXT NOT NULL, number INTEGER NOT NULL,
		state TEXT NOT NULL, body TEXT NOT NULL,
		PRIMARY KEY (app, profile, environment, number)
	);`,
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`); err != nil {
		return err
	}
	var cur int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return err
	}
	if cur > len(migrations) {
		return fmt.Errorf("%w: it is at version %d, this binary knows %d; run a newer holdfast", ErrTooNew, cur, len(migrations))
	}
	for v := cur + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version) VALUES (?)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}
