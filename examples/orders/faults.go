package orders

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// MaxExtraLatency bounds injected latency, so a typo cannot hang clients
// for hours.
const MaxExtraLatency = time.Minute

// Faults are injected into every request except /admin/*.
type Faults struct {
	// FailRate is the fraction of requests, 0..1, answered with a 500.
	FailRate float64
	// ExtraLatency is added before every request is handled.
	ExtraLatency time.Duration
}

// Validate reports a fault setting out of range, naming its JSON field.
func (f Faults) Validate() error {
	if !(f.FailRate >= 0 && f.FailRate <= 1) { // also catches NaN
		return &ValidationError{"fail_rate", fmt.Sprintf("%v; must be between 0.0 and 1.0", f.FailRate)}
	}
	if f.ExtraLatency < 0 || f.ExtraLatency > MaxExtraLatency {
		return &ValidationError{"extra_latency", fmt.Sprintf("%v; must be between 0s and %v", f.ExtraLatency, MaxExtraLatency)}
	}
	return nil
}

// faultsJSON is Faults on the wire: extra_latency is a Go duration string.
type faultsJSON struct {
	FailRate     float64 `json:"fail_rate"`
	ExtraLatency string  `json:"extra_latency"`
}

// MarshalJSON writes {"fail_rate":0.5,"extra_latency":"100ms"}.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{FailRate: f.FailRate, ExtraLatency: f.ExtraLatency.String()})
}

// faultsPatch is the body of POST /admin/faults; absent fields keep their
// current value.
type faultsPatch struct {
	FailRate     *float64 `json:"fail_rate"`
	ExtraLatency *string  `json:"extra_latency"`
}

func (p faultsPatch) apply(f Faults) (Faults, error) {
	if p.FailRate != nil {
		f.FailRate = *p.FailRate
	}
	if p.ExtraLatency != nil {
		d, err := time.ParseDuration(*p.ExtraLatency)
		if err != nil {
			return f, &ValidationError{"extra_latency", fmt.Sprintf("%q is not a duration; write it like \"100ms\" or \"1.5s\"", *p.ExtraLatency)}
		}
		f.ExtraLatency = d
	}
	return f, f.Validate()
}

// injector decides which requests fail. Its random source is seeded, so a
// given seed and request order fail the same requests every run.
type injector struct {
	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
}

func newInjector(f Faults, seed uint64) *injector {
	return &injector{faults: f, rng: rand.New(rand.NewPCG(seed, seed))}
}

func (in *injector) get() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.faults
}

func (in *injector) set(f Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults = f
}

// next returns the current faults and whether this request fails.
func (in *injector) next() (Faults, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.faults
	// Float64 is in [0, 1): a rate of 1 fails every request, 0 none.
	return f, f.FailRate > 0 && in.rng.Float64() < f.FailRate
}

// update applies a patch atomically and returns the new faults.
func (in *injector) update(p faultsPatch) (Faults, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f, err := p.apply(in.faults)
	if err != nil {
		return in.faults, err
	}
	in.faults = f
	return f, nil
}
