package state_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"holdfast/internal/state"

	_ "modernc.org/sqlite"
)

func open(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFlagsAndLedger(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)

	created, err := s.EnsureFlag(ctx, "orders-real", "kill switch", true, "config")
	if err != nil || !created {
		t.Fatalf("EnsureFlag = %v, %v; want created", created, err)
	}
	// Ensuring again keeps the value and does not record a second creation.
	if created, err := s.EnsureFlag(ctx, "orders-real", "kill switch", false, "config"); err != nil || created {
		t.Fatalf("second EnsureFlag = %v, %v; want not created", created, err)
	}
	f, c, err := s.SetFlag(ctx, "orders-real", false, "alice", "db down")
	if err != nil {
		t.Fatalf("SetFlag: %v", err)
	}
	if got, want := f.Enabled, false; got != want {
		t.Errorf("Enabled = %v, want %v", got, want)
	}
	if got, want := f.Version, int64(2); got != want {
		t.Errorf("Version = %d, want %d", got, want)
	}
	if c.Actor != "alice" || c.Reason != "db down" || c.Action != "set" || c.Subject != "orders-real" {
		t.Errorf("change = %+v", c)
	}

	// Unknown flag: ErrNotFound and nothing recorded.
	before, _ := s.Changes(ctx, state.ChangeQuery{})
	if _, _, err := s.SetFlag(ctx, "nope", true, "alice", "x"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("SetFlag(unknown) err = %v, want ErrNotFound", err)
	}
	after, _ := s.Changes(ctx, state.ChangeQuery{})
	if len(after) != len(before) {
		t.Fatalf("ledger grew on a failed set: %d -> %d", len(before), len(after))
	}

	// Reopen: values and ledger survive a restart.
	s.Close()
	s2 := open(t, dir)
	flags, err := s2.Flags(ctx)
	if err != nil || len(flags) != 1 || flags[0].Enabled {
		t.Fatalf("Flags after reopen = %+v, %v", flags, err)
	}
	changes, err := s2.Changes(ctx, state.ChangeQuery{Kind: "flag", Subject: "orders-real"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(changes), 2; got != want {
		t.Fatalf("len(changes) = %d, want %d", got, want)
	}
	if changes[0].Action != "set" || changes[1].Action != "create" {
		t.Errorf("changes not newest first: %+v", changes)
	}
	if limited, _ := s2.Changes(ctx, state.ChangeQuery{Limit: 1}); len(limited) != 1 {
		t.Errorf("Limit 1 gave %d", len(limited))
	}
	st, err := os.Stat(filepath.Join(dir, state.FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("store file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations(version) VALUES (?)`, state.SchemaVersion()+5); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := state.Open(context.Background(), dir); !errors.Is(err, state.ErrTooNew) {
		t.Fatalf("Open on newer schema: err = %v, want ErrTooNew", err)
	}
}

func TestInvalidDetailRejected(t *testing.T) {
	s := open(t, t.TempDir())
	_, err := s.RecordChange(context.Background(), state.Change{Kind: "x", Subject: "y", Action: "z", Actor: "a", Detail: []byte("{nope")})
	if err == nil {
		t.Fatal("RecordChange accepted invalid JSON detail")
	}
}
