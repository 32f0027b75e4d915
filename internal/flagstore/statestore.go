package flagstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"holdfast/internal/state"
)

// StateStore keeps the flag store in holdfast's state store: its tables
// (flagstore_*, created by the state store's migrations) and its ledger
// entries (the state store's changes) are written in one transaction.
type StateStore struct {
	st           *state.Store
	app, profile string
}

var _ Store = (*StateStore)(nil)

// NewStateStore returns a Store for app and profile in st. It does not own st.
func NewStateStore(st *state.Store, app, profile string) *StateStore {
	return &StateStore{st: st, app: app, profile: profile}
}

func insertChanges(ctx context.Context, tx *sql.Tx, changes []Change) error {
	for _, c := range changes {
		if _, err := state.RecordChangeTx(ctx, tx, state.Change{Time: c.Time, Kind: c.Kind, Subject: c.Subject,
			Action: c.Action, Actor: c.Actor, Reason: c.Reason, Detail: c.Detail}); err != nil {
			return err
		}
	}
	return nil
}

// CreateVersion implements Store.
func (s *StateStore) CreateVersion(ctx context.Context, v Version, c Change) (Version, error) {
	err := s.st.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM flagstore_versions WHERE app = ? AND profile = ?`,
			s.app, s.profile).Scan(&n); err != nil {
			return fmt.Errorf("next version number: %w", err)
		}
		v.Number = n + 1
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO flagstore_versions(app, profile, number, description, content, actor, created_at) VALUES (?,?,?,?,?,?,?)`,
			s.app, s.profile, v.Number, v.Description, v.Content, v.Actor, v.CreatedAt.UnixNano()); err != nil {
			return fmt.Errorf("insert version: %w", err)
		}
		c.Detail = mergeDetail(c.Detail, "version", v.Number)
		return insertChanges(ctx, tx, []Change{c})
	})
	return v, err
}

// Versions implements Store.
func (s *StateStore) Versions(ctx context.Context) ([]Version, error) {
	rows, err := s.st.Query(ctx,
		`SELECT number, description, content, actor, created_at FROM flagstore_versions WHERE app = ? AND profile = ? ORDER BY number`,
		s.app, s.profile)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var v Version
		var at int64
		if err := rows.Scan(&v.Number, &v.Description, &v.Content, &v.Actor, &at); err != nil {
			return nil, fmt.Errorf("list versions: %w", err)
		}
		v.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// PutEnvironment implements Store.
func (s *StateStore) PutEnvironment(ctx context.Context, e Environment, c Change) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO flagstore_environments(app, profile, name, config) VALUES (?,?,?,?)
			 ON CONFLICT(app, profile, name) DO UPDATE SET config = excluded.config`,
			s.app, s.profile, e.Name, string(body)); err != nil {
			return fmt.Errorf("put environment %s: %w", e.Name, err)
		}
		return insertChanges(ctx, tx, []Change{c})
	})
}

// Environments implements Store.
func (s *StateStore) Environments(ctx context.Context) ([]Environment, error) {
	rows, err := s.st.Query(ctx,
		`SELECT config FROM flagstore_environments WHERE app = ? AND profile = ? ORDER BY name`, s.app, s.profile)
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	var out []Environment
	for rows.Next() {
		var body string
		var e Environment
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list environments: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return nil, fmt.Errorf("decode environment: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SaveDeployment implements Store.
func (s *StateStore) SaveDeployment(ctx context.Context, d Deployment, changes ...Change) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO flagstore_deployments(app, profile, environment, number, state, body) VALUES (?,?,?,?,?,?)
			 ON CONFLICT(app, profile, environment, number) DO UPDATE SET state = excluded.state, body = excluded.body`,
			s.app, s.profile, d.Environment, d.Number, string(d.State), string(body)); err != nil {
			return fmt.Errorf("save deployment %s #%d: %w", d.Environment, d.Number, err)
		}
		return insertChanges(ctx, tx, changes)
	})
}

// Deployments implements Store.
func (s *StateStore) Deployments(ctx context.Context, env string) ([]Deployment, error) {
	rows, err := s.st.Query(ctx,
		`SELECT body FROM flagstore_deployments WHERE app = ? AND profile = ? AND environment = ? ORDER BY number`,
		s.app, s.profile, env)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	var out []Deployment
	for rows.Next() {
		var body string
		var d Deployment
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			return nil, fmt.Errorf("decode deployment: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Changes lists the flag store's ledger entries for a subject ("" for
// all of kind flag), newest first.
func (s *StateStore) Changes(ctx context.Context, subject string, limit int) ([]Change, error) {
	list, err := s.st.Changes(ctx, state.ChangeQuery{Kind: LedgerKind, Subject: subject, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]Change, len(list))
	for i, c := range list {
		out[i] = Change{Time: c.Time, Kind: c.Kind, Subject: c.Subject, Action: c.Action, Actor: c.Actor, Reason: c.Reason, Detail: c.Detail}
	}
	return out, nil
}

// mergeDetail sets key in a JSON object detail.
func mergeDetail(detail json.RawMessage, key string, v any) json.RawMessage {
	m := map[string]any{}
	if len(detail) > 0 {
		_ = json.Unmarshal(detail, &m)
	}
	m[key] = v
	out, _ := json.Marshal(m)
	return out
}
