package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Flag is a stored boolean flag. Version counts its changes.
type Flag struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Enabled     bool      `json:"enabled"`
	Version     int64     `json:"version"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by"`
}

// EnsureFlag creates the flag with value def if it does not exist (and
// records that in the ledger); an existing flag keeps its value, and only its
// description is refreshed. It reports whether the flag was created.
func (s *Store) EnsureFlag(ctx context.Context, name, description string, def bool, actor string) (bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx,
			`INSERT INTO flags(name, description, enabled, updated_at, updated_by) VALUES (?,?,?,?,?)
			 ON CONFLICT(name) DO NOTHING`, name, description, def, now.UnixNano(), actor)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			_, err = tx.ExecContext(ctx, `UPDATE flags SET description = ? WHERE name = ? AND description <> ?`, description, name, description)
			return err
		}
		created = true
		detail, _ := json.Marshal(map[string]any{"enabled": def, "version": 1})
		_, err = recordChange(ctx, tx, Change{Time: now, Kind: "flag", Subject: name, Action: "create",
			Actor: actor, Reason: "declared in config", Detail: detail})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("ensure flag %s: %w", name, err)
	}
	return created, nil
}

// Flags lists every stored flag by name.
func (s *Store) Flags(ctx context.Context) ([]Flag, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, description, enabled, version, updated_at, updated_by FROM flags ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list flags: %w", err)
	}
	defer rows.Close()
	var out []Flag
	for rows.Next() {
		f, err := scanFlag(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanFlag(r scanner) (Flag, error) {
	var f Flag
	var at int64
	if err := r.Scan(&f.Name, &f.Description, &f.Enabled, &f.Version, &at, &f.UpdatedBy); err != nil {
		return f, err
	}
	f.UpdatedAt = time.Unix(0, at).UTC()
	return f, nil
}

// SetFlag sets a flag's value and records the change, both in one
// transaction: either both happen or neither. An unknown flag is ErrNotFound
// and nothing changes.
func (s *Store) SetFlag(ctx context.Context, name string, enabled bool, actor, reason string) (Flag, Change, error) {
	var f Flag
	var c Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		prev, err := scanFlag(tx.QueryRowContext(ctx,
			`SELECT name, description, enabled, version, updated_at, updated_by FROM flags WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("flag %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		f = prev
		f.Enabled = enabled
		f.Version = prev.Version + 1
		f.UpdatedAt = now.UTC()
		f.UpdatedBy = actor
		if _, err := tx.ExecContext(ctx, `UPDATE flags SET enabled = ?, version = ?, updated_at = ?, updated_by = ? WHERE name = ?`,
			enabled, f.Version, now.UnixNano(), actor, name); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"from": prev.Enabled, "to": enabled, "version": f.Version})
		c, err = recordChange(ctx, tx, Change{Time: now, Kind: "flag", Subject: name, Action: "set",
			Actor: actor, Reason: reason, Detail: detail})
		return err
	})
	if err != nil {
		return Flag{}, Change{}, err
	}
	return f, c, nil
}
