package state_test

import (
	"context"
	"testing"
)

func TestRolloutRecordsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if list, err := s.Rollouts(ctx); err != nil || len(list) != 0 {
		t.Fatalf("empty store: %v, %v", list, err)
	}
	if err := s.PutRolloutStatus(ctx, "orders", []byte(`{"id":"a","state":"SHIFTING"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRolloutRouting(ctx, "orders", []byte(`{"stable":"v2"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRolloutStatus(ctx, "orders", []byte(`{"id":"a","state":"PROMOTED"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRolloutStatus(ctx, "x", []byte(`{not json`)); err == nil {
		t.Error("invalid JSON was kept")
	}
	s.Close()
	s2 := open(t, dir)
	list, err := s2.Rollouts(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("after reopen: %v, %v", list, err)
	}
	r := list[0]
	if r.Route != "orders" || string(r.Status) != `{"id":"a","state":"PROMOTED"}` || string(r.Routing) != `{"stable":"v2"}` {
		t.Errorf("record %s %s %s", r.Route, r.Status, r.Routing)
	}
	if err := s2.PutRolloutRouting(ctx, "orders", nil); err != nil {
		t.Fatal(err)
	}
	if list, _ := s2.Rollouts(ctx); len(list[0].Routing) != 0 {
		t.Errorf("routing not cleared: %s", list[0].Routing)
	}
}
