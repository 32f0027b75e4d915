package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Change is one entry of the change ledger: what changed, who changed it,
// when and why. Every flag flip, config reload, rollout step and secret
// rotation is one.
type Change struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`    // "flag", "config", …
	Subject string          `json:"subject"` // the flag name, the config file, …
	Action  string          `json:"action"`  // "set", "reload", …
	Actor   string          `json:"actor"`
	Reason  string          `json:"reason,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// ChangeQuery filters the ledger; zero fields match everything.
type ChangeQuery struct {
	Kind    string
	Subject string
	Action  string
	Since   time.Time
	Limit   int // default 100, newest first
}

// RecordChange appends c to the ledger and returns it with its id.
func (s *Store) RecordChange(ctx context.Context, c Change) (Change, error) {
	var out Change
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = recordChange(ctx, tx, c)
		return err
	})
	return out, err
}

func recordChange(ctx context.Context, tx *sql.Tx, c Change) (Change, error) {
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	if len(c.Detail) == 0 {
		c.Detail = json.RawMessage("{}")
	}
	if !json.Valid(c.Detail) {
		return c, fmt.Errorf("change detail is not valid JSON")
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO changes(at, kind, subject, action, actor, reason, detail) VALUES (?,?,?,?,?,?,?)`,
		c.Time.UnixNano(), c.Kind, c.Subject, c.Action, c.Actor, c.Reason, string(c.Detail))
	if err != nil {
		return c, fmt.Errorf("record change: %w", err)
	}
	c.ID, err = res.LastInsertId()
	return c, err
}

// Changes lists ledger entries, newest first.
func (s *Store) Changes(ctx context.Context, q ChangeQuery) ([]Change, error) {
	var where []string
	var args []any
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, q.Kind)
	}
	if q.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, q.Subject)
	}
	if q.Action != "" {
		where = append(where, "action = ?")
		args = append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	sqlText := `SELECT id, at, kind, subject, action, actor, reason, detail FROM changes`
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText += " ORDER BY id DESC LIMIT ?"
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		var c Change
		var at int64
		var detail string
		if err := rows.Scan(&c.ID, &at, &c.Kind, &c.Subject, &c.Action, &c.Actor, &c.Reason, &detail); err != nil {
			return nil, err
		}
		c.Time = time.Unix(0, at).UTC()
		c.Detail = json.RawMessage(detail)
		out = append(out, c)
	}
	return out, rows.Err()
}
