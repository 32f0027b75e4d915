// Package alarm evaluates CloudWatch-compatible metric alarms and composite
// alarms, and fires actions on state transitions.
//
// The evaluator is a state machine that is always given the time: nothing in
// this package reads the wall clock. A scheduler (the daemon) calls
// [Manager.Eval] with the current time; alarms whose period has closed are
// evaluated, composite alarms are recomputed from their children, and
// subscribed [Action]s are called asynchronously for every transition.
//
// # Evaluation semantics
//
// The semantics follow "Configuring how CloudWatch alarms treat missing data"
// in the CloudWatch user guide (AlarmThatSendsEmail.md, 2023 snapshot). The
// documented tables are test vectors in testdata/missing_data.txt.
//
//   - Each evaluation fetches an evaluation range of R periods, newest last.
//     CloudWatch documents the range only by example ("5 for an alarm with 3
//     evaluation periods") and says it depends on the period and resolution;
//     this package uses R = EvaluationPeriods + 2, overridable per alarm with
//     [Definition.EvaluationRange].
//   - If the range holds at least N real datapoints, the newest N real points
//     decide: ALARM if at least M breach, else OK. TreatMissingData is not used.
//   - Otherwise every real point in the range is used, and N minus that many
//     missing points are filled according to TreatMissingData:
//     breaching and notBreaching count the fills as breaching or not;
//     missing and ignore do not count them: ALARM if at least M real points
//     breach, OK if a real point does not breach; if every real point breaches
//     (but fewer than M), missing applies the premature-alarm rule (ALARM when
//     the oldest breaching point is at least M periods old, else
//     INSUFFICIENT_DATA) and ignore keeps the current state.
//   - With no real point at all: missing gives INSUFFICIENT_DATA, ignore keeps
//     the state, breaching gives ALARM, notBreaching gives OK.
//
// # Schedule
//
// Beyond CloudWatch (which evaluates high-resolution alarms every 10 s), an
// alarm is due as soon as its newest period has closed plus a settle delay
// that lets late datapoints land: [Definition.SettleDelay], by default
// Period/10 capped at 5 s (100 ms for a 1-second alarm, 5 s for a 1-minute
// alarm). Periods are aligned to the Unix epoch. [Alarm.Due] and
// [Alarm.NextEvaluation] expose the schedule; [Manager.Run] is a loop that
// sleeps until the next close on an injected [Clock].
//
// # Composite alarms
//
// A composite is ALARM while its AlarmRule ([ParseRule]) is true and OK
// otherwise, computed from its children's current states after the metric
// alarms of each [Manager.Eval] (and at once after [Manager.SetState]).
// Rules may name metric or composite alarms; [Manager.Update] rejects unknown
// names (with the column) and cycles.
//
// # Actions
//
// Actions fire on transitions only, including those made by SetState (as
// CloudWatch's SetAlarmState does). Each subscribed [Action] has its own
// goroutine and bounded queue: evaluation never waits for an action; a full
// queue drops the transition, and drops and errors are logged and counted
// ([Manager.ActionStats]). [Webhook] POSTs JSON with bounded, exponentially
// backed-off retries.
package alarm
