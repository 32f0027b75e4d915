package flagstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteSchema creates the flag store's tables. The lead will move these
// into internal/state's migrations.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS flagstore_versions (
		app TEXT NOT NULL, profile TEXT NOT NULL, number INTEGER NOT NULL,
		description TEXT NOT NULL, content BLOB NOT NULL, actor TEXT NOT NULL, created_at INTEGER NOT NULL,
		PRIMARY KEY (app, profile, number))`,
	`CREATE TABLE IF NOT EXISTS flagstore_environments (
		app TEXT NOT NULL, profile TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
		PRIMARY KEY (app, profile, name))`,
	`CREATE TABLE IF NOT EXISTS flagstore_deployments (
		app TEXT NOT NULL, profile TEXT NOT NULL, environment TEXT NOT NULL, number INTEGER NOT NULL,
		state TEXT NOT NULL, body TEXT NOT NULL,
		PRIMARY KEY (app, profile, environment, number))`,
	`CREATE TABLE IF NOT EXISTS flagstore_changes (
		id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
		action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS flagstore_changes_subject ON flagstore_changes(subject, id)`,
}

// SQLiteStore is a Store in SQLite tables prefixed flagstore_.
type SQLiteStore struct {
	db           *sql.DB
	app, profile string
	owned        bool
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating) the SQLite file at path and returns a store
// for app and profile; Close closes the file.
func OpenSQLite(ctx context.Context, path, app, profile string) (*SQLiteStore, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open flag store %s: %w", path, err)
	}
	s, err := NewSQLiteStore(ctx, db, app, profile)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open flag store %s: %w", path, err)
	}
	s.owned = true
	return s, nil
}

// NewSQLiteStore creates the tables in db if needed and returns a store for
// app and profile. Close does not close db.
func NewSQLiteStore(ctx context.Context, db *sql.DB, app, profile string) (*SQLiteStore, error) {
	for _, stmt := range sqliteSchema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create flag store tables: %w", err)
		}
	}
	return &SQLiteStore{db: db, app: app, profile: profile}, nil
}

// Close closes the database if OpenSQLite opened it.
func (s *SQLiteStore) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

func (s *SQLiteStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func insertChanges(ctx context.Context, tx *sql.Tx, changes []Change) error {
	for _, c := range changes {
		detail := string(c.Detail)
		if detail == "" {
			detail = "{}"
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO flagstore_changes(at, kind, subject, action, actor, reason, detail) VALUES (?,?,?,?,?,?,?)`,
			c.Time.UnixNano(), c.Kind, c.Subject, c.Action, c.Actor, c.Reason, detail); err != nil {
			return fmt.Errorf("record change: %w", err)
		}
	}
	return nil
}

// CreateVersion implements Store.
func (s *SQLiteStore) CreateVersion(ctx context.Context, v Version, c Change) (Version, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
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
func (s *SQLiteStore) Versions(ctx context.Context) ([]Version, error) {
	rows, err := s.db.QueryContext(ctx,
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
func (s *SQLiteStore) PutEnvironment(ctx context.Context, e Environment, c Change) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
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
func (s *SQLiteStore) Environments(ctx context.Context) ([]Environment, error) {
	rows, err := s.db.QueryContext(ctx,
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
func (s *SQLiteStore) SaveDeployment(ctx context.Context, d Deployment, changes ...Change) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
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
func (s *SQLiteStore) Deployments(ctx context.Context, env string) ([]Deployment, error) {
	rows, err := s.db.QueryContext(ctx,
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

// Changes lists ledger entries for a subject ("" for all), newest first.
func (s *SQLiteStore) Changes(ctx context.Context, subject string, limit int) ([]Change, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT at, kind, subject, action, actor, reason, detail FROM flagstore_changes
		 WHERE (? = '' OR subject = ?) ORDER BY id DESC LIMIT ?`, subject, subject, limit)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var at int64
		var detail string
		if err := rows.Scan(&at, &c.Kind, &c.Subject, &c.Action, &c.Actor, &c.Reason, &detail); err != nil {
			return nil, fmt.Errorf("list changes: %w", err)
		}
		c.Time = time.Unix(0, at).UTC()
		c.Detail = json.RawMessage(detail)
		out = append(out, c)
	}
	return out, rows.Err()
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
