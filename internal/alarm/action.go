package alarm

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Action is told about alarm state transitions. The Manager calls Fire from
// one goroutine per subscription, never from evaluation, so a slow action
// delays only its own queue. Fire receives each transition once.
type Action interface {
	Fire(ctx context.Context, t Transition) error
}

// ActionFunc adapts a function to [Action].
type ActionFunc func(ctx context.Context, t Transition) error

// Fire calls f.
func (f ActionFunc) Fire(ctx context.Context, t Transition) error { return f(ctx, t) }

// DefaultQueueSize is how many transitions wait per action by default; when
// the queue is full, new transitions for that action are dropped and counted.
const DefaultQueueSize = 64

// ActionStats counts what happened to the transitions queued for an action.
type ActionStats struct {
	Delivered uint64 `json:"delivered"` // Fire returned nil
	Failed    uint64 `json:"failed"`    // Fire returned an error
	Dropped   uint64 `json:"dropped"`   // the queue was full
}

// Log keys used by this package.
const (
	logKeyAction = "action"
	logKeyAlarm  = "alarm"
	logKeyFrom   = "from"
	logKeyTo     = "to"
	logKeyErr    = "err"
)

type subscription struct {
	name   string
	alarms map[string]bool // nil: every alarm
	action Action
	queue  chan Transition
	log    *slog.Logger

	delivered, failed, dropped atomic.Uint64
}

func (s *subscription) wants(alarm string) bool { return s.alarms == nil || s.alarms[alarm] }

// offer queues t without blocking.
func (s *subscription) offer(t Transition) {
	select {
	case s.queue <- t:
	default:
		s.dropped.Add(1)
		s.log.Warn("alarm action queue full; transition dropped",
			logKeyAction, s.name, logKeyAlarm, t.Alarm, logKeyFrom, t.From, logKeyTo, t.To)
	}
}

func (s *subscription) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case t, ok := <-s.queue:
			if !ok {
				return
			}
			if err := s.action.Fire(ctx, t); err != nil {
				s.failed.Add(1)
				s.log.Error("alarm action failed",
					logKeyAction, s.name, logKeyAlarm, t.Alarm, logKeyFrom, t.From, logKeyTo, t.To, logKeyErr, err)
				continue
			}
			s.delivered.Add(1)
		}
	}
}

func (s *subscription) stats() ActionStats {
	return ActionStats{Delivered: s.delivered.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()}
}
