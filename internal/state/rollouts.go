package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// rolloutsTable keeps, per route, the latest rollout's status and the
// route's rollout routing (a promoted stable target). It is created on
// first use rather than by a numbered migration: it is a cache of what the
// change ledger already tells, so a binary without it loses nothing.
const rolloutsTable = `CREATE TABLE IF NOT EXISTS rollouts (
	route      TEXT PRIMARY KEY,
	status     TEXT NOT NULL DEFAULT '',
	routing    TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL)`

// RolloutRecord is what the store keeps of one route's rollouts.
type RolloutRecord struct {
	Route     string
	Status    json.RawMessage // the latest rollout; empty when none
	Routing   json.RawMessage // the promoted target; empty when none
	UpdatedAt time.Time
}

// PutRolloutStatus keeps the latest rollout status of a route.
func (s *Store) PutRolloutStatus(ctx context.Context, route string, status json.RawMessage) error {
	return s.putRollout(ctx, route, "status", status)
}

// PutRolloutRouting keeps a route's rollout routing; empty clears it.
func (s *Store) PutRolloutRouting(ctx context.Context, route string, routing json.RawMessage) error {
	return s.putRollout(ctx, route, "routing", routing)
}

func (s *Store) putRollout(ctx context.Context, route, column string, v json.RawMessage) error {
	if len(v) > 0 && !json.Valid(v) {
		return fmt.Errorf("rollout %s of %s is not valid JSON", column, route)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, rolloutsTable); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rollouts(route, `+column+`, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(route) DO UPDATE SET `+column+` = excluded.`+column+`, updated_at = excluded.updated_at`,
			route, string(v), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("keep rollout %s of %s: %w", column, route, err)
	}
	return nil
}

// Rollouts returns every route's record, by route.
func (s *Store) Rollouts(ctx context.Context) ([]RolloutRecord, error) {
	if _, err := s.db.ExecContext(ctx, rolloutsTable); err != nil {
		return nil, fmt.Errorf("rollouts table: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT route, status, routing, updated_at FROM rollouts ORDER BY route`)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []RolloutRecord
	for rows.Next() {
		var r RolloutRecord
		var st, ro string
		var at int64
		if err := rows.Scan(&r.Route, &st, &ro, &at); err != nil {
			return nil, err
		}
		if st != "" {
			r.Status = json.RawMessage(st)
		}
		if ro != "" {
			r.Routing = json.RawMessage(ro)
		}
		r.UpdatedAt = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
