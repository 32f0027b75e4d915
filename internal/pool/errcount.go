package pool

import "sync/atomic"

// errorKind names a pooler-level failure counted for metrics.
type errorKind int

const (
	errLoginFailedKind errorKind = iota + 1
	errMaxClientsKind
	errWaitTimeoutKind
	errQueryTimeoutKind
	errIdleTxKind
	errServerLoginKind
	errKindCount
)

// errorKindNames are the "kind" label values of holdfast_pooler_errors_total.
var errorKindNames = [errKindCount]string{
	errLoginFailedKind:  "client_login_failed",
	errMaxClientsKind:   "max_client_conn",
	errWaitTimeoutKind:  "query_wait_timeout",
	errQueryTimeoutKind: "query_timeout",
	errIdleTxKind:       "idle_transaction_timeout",
	errServerLoginKind:  "server_login_failed",
}

type errorCounts struct{ n [errKindCount]atomic.Int64 }

func (e *errorCounts) add(k errorKind) {
	if k > 0 && k < errKindCount {
		e.n[k].Add(1)
	}
}

func (e *errorCounts) get(k errorKind) int64 { return e.n[k].Load() }
