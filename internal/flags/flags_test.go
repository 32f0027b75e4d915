package flags_test

import (
	"context"
	"errors"
	"testing"

	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/state"
)

func TestServiceSetAndSnapshot(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	off := false
	svc := flags.New(st, nil)
	if err := svc.Sync(ctx, []config.Flag{{Name: "a"}, {Name: "b", Default: &off}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		value, know bool
	}{{"a", true, true}, {"b", false, true}, {"zzz", false, false}} {
		if v, k := svc.Bool(tc.name, "client-1"); v != tc.value || k != tc.know {
			t.Errorf("Bool(%q) = %v,%v; want %v,%v", tc.name, v, k, tc.value, tc.know)
		}
	}

	if _, _, err := svc.Set(ctx, "a", false, "bob", "incident"); err != nil {
		t.Fatal(err)
	}
	if v, _ := svc.Bool("a", ""); v {
		t.Fatal("flip not visible to the data plane right after Set")
	}
	if _, _, err := svc.Set(ctx, "missing", false, "bob", "x"); !errors.Is(err, flags.ErrUnknownFlag) {
		t.Fatalf("Set(missing) err = %v, want ErrUnknownFlag", err)
	}

	// A second service on the same store (another process) sees the flip
	// after a refresh.
	other := flags.New(st, nil)
	if err := other.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if v, k := other.Bool("a", ""); v || !k {
		t.Fatalf("other.Bool(a) = %v,%v; want false,true", v, k)
	}

	// Store gone: lookups keep answering from the last good snapshot.
	st.Close()
	if err := svc.Refresh(ctx); err == nil {
		t.Fatal("Refresh on a closed store succeeded")
	}
	if v, k := svc.Bool("b", ""); v || !k {
		t.Fatalf("Bool after store loss = %v,%v; want last good false,true", v, k)
	}
	if _, _, err := svc.Set(ctx, "b", true, "bob", "x"); err == nil {
		t.Fatal("Set succeeded with the store closed")
	}
	if v, _ := svc.Bool("b", ""); v {
		t.Fatal("failed Set changed the data plane")
	}
}
