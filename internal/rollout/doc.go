// Package rollout shifts a route's traffic from its stable target to a
// candidate target step by step, watching alarms, comparing the candidate
// with the stable target and putting all traffic back on stable the moment
// something goes wrong.
//
// A [Strategy] is a list of steps (candidate weight, time at that weight):
// CodeDeploy's predefined Lambda configurations (Canary10Percent5Minutes,
// Linear10PercentEvery1Minute, AllAtOnce, ...), custom canary and linear
// ones, or an explicit list (Flagger's stepWeights). [ParseStrategy] reads
// them.
//
// A [Controller] holds at most one live rollout per route. It is a pure
// state machine driven by [Controller.Eval] with the time passed in; it
// never reads the clock. Traffic moves through a [TrafficSetter] (the
// gateway), alarms are read through [AlarmStates] and also pushed through
// [Controller.Fire] (an alarm.Action) for an immediate rollback, metrics are
// read through a [MetricReader] ([StoreReader] over *metrics.Store), and
// every start, step, pause, resume, rollback, abort and promotion is written
// to a [Ledger].
//
// The life of a rollout:
//
//	PENDING → PRE_TRAFFIC_HOOK → SHIFTING (step 1..n) → POST_TRAFFIC_HOOK → PROMOTED
//	                   ↘               ↘  ⇅ PAUSED            ↘
//	                    ROLLED_BACK (hook failed, alarm, analysis failed) / ABORTED (by hand)
//
// Hooks (CodeDeploy's BeforeAllowTraffic and AfterAllowTraffic) are HTTP
// POSTs run in the background; Eval only notes their completion. Which
// version a client gets is decided by [Assign], a consistent hash of the
// client key into [0,100): a client moves to the candidate once the share
// passes its bucket and stays there as the share grows; when the share
// falls, the clients that moved last leave first.
package rollout
