package alarm

// point is one slot of the evaluation range.
type point int8

const (
	pointMissing point = iota
	pointOK
	pointBreaching
)

// decision is the outcome of evaluating one evaluation range.
type decision struct {
	state  State // "" when the current state is kept
	used   []int // indices into the range of the real points evaluated
	filled int   // missing points filled in (N minus real points used)
	// breaching counts the breaching points among those evaluated,
	// fills included.
	breaching int
	premature bool // ALARM by the premature-alarm rule
}

// decide applies CloudWatch's evaluation-range algorithm to a range of
// points, oldest first, for an M-out-of-N alarm. See the package comment.
func decide(rng []point, n, m int, treat TreatMissingData) decision {
	var real []int
	for i := len(rng) - 1; i >= 0; i-- { // newest first
		if rng[i] != pointMissing {
			real = append(real, i)
		}
	}
	if len(real) >= n {
		d := decision{used: real[:n]}
		for _, i := range d.used {
			if rng[i] == pointBreaching {
				d.breaching++
			}
		}
		d.state = StateOK
		if d.breaching >= m {
			d.state = StateAlarm
		}
		return d
	}
	d := decision{used: real, filled: n - len(real)}
	realOK := 0
	for _, i := range real {
		if rng[i] == pointBreaching {
			d.breaching++
		} else {
			realOK++
		}
	}
	switch treat {
	case Breaching:
		d.breaching += d.filled
		fallthrough
	case NotBreaching:
		d.state = StateOK
		if d.breaching >= m {
			d.state = StateAlarm
		}
		return d
	}
	// missing and ignore: fills count neither way.
	switch {
	case d.breaching >= m:
		d.state = StateAlarm
	case realOK > 0:
		d.state = StateOK
	case treat == Ignore:
		// every real point breaches but fewer than M, or none at all
	case len(real) == 0:
		d.state = StateInsufficientData
	default:
		// Premature-alarm rule: the oldest breaching point is at least M
		// periods old and every newer point is breaching or missing.
		oldest := real[len(real)-1]
		if age := len(rng) - oldest; age >= m {
			d.state = StateAlarm
			d.premature = true
		} else {
			d.state = StateInsufficientData
		}
	}
	return d
}
