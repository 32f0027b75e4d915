package pgcluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// DSN is a postgres:// URL for the superuser and database db.
func (c *Cluster) DSN(db string) string {
	return c.DSNFor(c.opts.User, c.opts.Password, db)
}

// DSNFor is a postgres:// URL for any role, e.g. one made by CreateRole.
func (c *Cluster) DSNFor(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(c.Host(), strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name owned by the superuser. It is a copy
// of template1, so pg_stat_statements is already created in it.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	if err := c.exec(ctx, maintenanceDB, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name, terminating its sessions first. A
// missing database is not an error.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := c.exec(ctx, maintenanceDB, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// CreateRole creates a role that can log in with password (stored as a
// scram-sha-256 verifier). Use DSNFor to connect as it.
func (c *Cluster) CreateRole(ctx context.Context, name, password string) error {
	// Utility statements take no parameters, hence the literal.
	sql := "CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN PASSWORD " + quoteLiteral(password)
	if err := c.exec(ctx, maintenanceDB, sql); err != nil {
		return fmt.Errorf("create role %q: %w", name, err)
	}
	return nil
}

// connect opens a superuser connection to db.
func (c *Cluster) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, c.DSN(db))
}

// exec runs one statement as the superuser in db.
func (c *Cluster) exec(ctx context.Context, db, sql string) error {
	conn, err := c.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// quoteLiteral quotes s as a standard-conforming SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
