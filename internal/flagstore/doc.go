// Package flagstore is holdfast's versioned feature-flag store in the manner
// of AWS AppConfig feature flags: immutable validated versions of a flag
// document, environments that move from one version to the next by a
// deployment strategy, alarm monitors that roll a deployment back (and, beyond
// AppConfig, revert a completed one within a rollback window), and a data-plane
// evaluator that answers from an immutable in-memory snapshot.
//
// # Documents
//
// A document follows AppConfig's AWS.AppConfig.FeatureFlags model:
//
//	{"version": "1",
//	 "flags":  {"checkout": {"name": "Checkout", "description": "…",
//	            "_deprecation": {"status": "planned", "date": "2027-01-01"},
//	            "attributes": {"limit": {"constraints": {"type": "number", "minimum": 1, "required": true}}}}},
//	 "values": {"checkout": {"enabled": true, "limit": 10,
//	            "_variants": [{"name": "beta", "rule": "(split pct::10 by::$userId)", "enabled": true, "limit": 20},
//	                          {"name": "Default", "enabled": false}]}}}
//
// Attribute constraint types are string, number, boolean, string[] and
// number[], with required, pattern, enum, minimum, maximum, and elements (the
// constraints of an array's elements). Every error names its JSON path.
//
// # Rules
//
// Variants are tried in order; the first whose rule matches wins; a variant
// without a rule is the default and must be last. Rules are a documented
// subset of AppConfig's s-expression language:
//
//	(eq $a "x") (neq $a 1) (gt $n 5) (gte …) (lt …) (lte …)
//	(in $country ["FR" "DE"]) (starts_with $email "admin") (ends_with $email "@example.com")
//	(and r1 r2 …) (or r1 r2 …) (not r)
//	(split pct::20 by::$userId)   ; by:: defaults to the entity attribute
//
// begins_with is accepted as an alias of starts_with. A comparison with a
// missing context value, or with operands of different types, is false
// (neq too; wrap in not to invert). split hashes flag name and key value
// (FNV-1a) into [0,100): the same entity always lands in the same bucket for
// a flag, so splits are not additive across variants (20%/20% gives 20%/0%),
// as in AppConfig.
//
// # Deployments
//
// A strategy has a growth type (linear or exponential), a growth factor
// (percent), a deployment duration and a final bake time. The steps are
// G, 2G, 3G… (linear) or G, 2G, 4G… (exponential, G·2^N), capped at 100,
// spread evenly over the duration: step k of n is reached at k·duration/n,
// so 0% at the start and 100% at the end, matching AppConfig's documented
// timeline (20% over 10 h: 0 h 0%, 2 h 20%, …, 10 h 100%). Then the
// deployment bakes for the final bake time and is COMPLETE.
//
// An entity (the context's entity key) sees the new version once
// hash(deployment key, entity) in [0,100) is below the current percentage;
// percentages only grow, so an entity never flips back during a deployment.
// A context without an entity sees the old version until 100%.
//
// # Monitors
//
// An environment lists alarm names. The Service is an alarm.Action: an ALARM
// transition of a monitored alarm during DEPLOYING or BAKING rolls back
// (ROLLING_BACK, then ROLLED_BACK at the next Eval; every entity is back on
// the old version at once); during the rollback window after COMPLETE
// (default 7 days from completion) it reverts to the previous version
// (REVERTED). INSUFFICIENT_DATA is ignored unless the environment says
// OnInsufficientData: "rollback". Every step, rollback and revert is a
// ledger Change naming the alarm and its reason. With Config.AlarmState set,
// Eval also polls the monitored alarms, so a transition the alarm Manager
// dropped, or an alarm already in ALARM when a deployment starts, still rolls
// back. A rollback or revert is published to the data plane before it is
// stored; if the store fails it stays in effect and is stored by a later Eval.
package flagstore
