package flagstore

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// GrowthType is how a deployment's percentage grows.
type GrowthType string

// Growth types (AppConfig's names).
const (
	Linear      GrowthType = "LINEAR"
	Exponential GrowthType = "EXPONENTIAL"
)

// MaxStrategyDuration bounds DeploymentDuration and FinalBakeTime
// (AppConfig: 0–1440 minutes).
const MaxStrategyDuration = 24 * time.Hour

// Strategy says how a deployment reaches every entity.
type Strategy struct {
	Name               string        `json:"name"`
	GrowthType         GrowthType    `json:"growth_type"`
	GrowthFactor       float64       `json:"growth_factor"` // percent per step, (0,100]
	DeploymentDuration time.Duration `json:"deployment_duration"`
	FinalBakeTime      time.Duration `json:"final_bake_time"`
}

// Predefined strategies, as AppConfig defines them (user guide,
// "Using predefined deployment strategies"; CDK RolloutStrategy constants).
var (
	// AllAtOnce: linear, 100%, no duration, 10 minutes bake.
	AllAtOnce = Strategy{Name: "AllAtOnce", GrowthType: Linear, GrowthFactor: 100,
		DeploymentDuration: 0, FinalBakeTime: 10 * time.Minute}
	// Linear50PercentEvery30Seconds: linear 50% over 1 minute, 1 minute
	// bake; meant for tests and demonstrations.
	Linear50PercentEvery30Seconds = Strategy{Name: "Linear50PercentEvery30Seconds", GrowthType: Linear, GrowthFactor: 50,
		DeploymentDuration: time.Minute, FinalBakeTime: time.Minute}
	// Linear20PercentEvery6Minutes: linear 20% over 30 minutes, 30 minutes
	// bake (AWS recommended for production).
	Linear20PercentEvery6Minutes = Strategy{Name: "Linear20PercentEvery6Minutes", GrowthType: Linear, GrowthFactor: 20,
		DeploymentDuration: 30 * time.Minute, FinalBakeTime: 30 * time.Minute}
	// Canary10Percent20Minutes: exponential 10% over 20 minutes, 10
	// minutes bake (AWS recommended).
	Canary10Percent20Minutes = Strategy{Name: "Canary10Percent20Minutes", GrowthType: Exponential, GrowthFactor: 10,
		DeploymentDuration: 20 * time.Minute, FinalBakeTime: 10 * time.Minute}
)

// PredefinedStrategies lists the predefined strategies by name.
func PredefinedStrategies() []Strategy {
	return []Strategy{AllAtOnce, Linear50PercentEvery30Seconds, Linear20PercentEvery6Minutes, Canary10Percent20Minutes}
}

// StrategyByName returns a predefined strategy; the "AppConfig." prefix is
// accepted.
func StrategyByName(name string) (Strategy, bool) {
	for _, s := range PredefinedStrategies() {
		if name == s.Name || name == "AppConfig."+s.Name {
			return s, true
		}
	}
	return Strategy{}, false
}

// ErrInvalidStrategy is wrapped by strategy validation errors.
var ErrInvalidStrategy = errors.New("invalid deployment strategy")

// Validate checks the strategy.
func (s Strategy) Validate() error {
	switch s.GrowthType {
	case Linear, Exponential:
	default:
		return fmt.Errorf("%w: growth type %q; use LINEAR or EXPONENTIAL", ErrInvalidStrategy, s.GrowthType)
	}
	if !(s.GrowthFactor > 0 && s.GrowthFactor <= 100) {
		return fmt.Errorf("%w: growth factor %v; it is a percentage above 0 and at most 100", ErrInvalidStrategy, s.GrowthFactor)
	}
	if s.DeploymentDuration < 0 || s.DeploymentDuration > MaxStrategyDuration {
		return fmt.Errorf("%w: deployment duration %v; use 0 to %v", ErrInvalidStrategy, s.DeploymentDuration, MaxStrategyDuration)
	}
	if s.FinalBakeTime < 0 || s.FinalBakeTime > MaxStrategyDuration {
		return fmt.Errorf("%w: final bake time %v; use 0 to %v", ErrInvalidStrategy, s.FinalBakeTime, MaxStrategyDuration)
	}
	return nil
}

// Steps returns the percentage reached at each step: G, 2G, 3G… for
// linear growth, G·2^N for exponential, the last one 100.
func (s Strategy) Steps() []float64 {
	var out []float64
	for k := 0; ; k++ {
		var p float64
		if s.GrowthType == Exponential {
			p = s.GrowthFactor * math.Pow(2, float64(k))
		} else {
			p = s.GrowthFactor * float64(k+1)
		}
		// Guard against float error making 5×20 = 99.99999.
		if p >= 100-1e-9 || k >= 1000 {
			return append(out, 100)
		}
		out = append(out, p)
	}
}

// StepInterval is the time between steps: the duration divided evenly.
func (s Strategy) StepInterval() time.Duration {
	return s.DeploymentDuration / time.Duration(len(s.Steps()))
}

// PercentAt is the share of entities on the new version elapsed after the
// deployment started: step k of n is reached at k·duration/n (0% at the
// start, 100% at the end of the duration).
func (s Strategy) PercentAt(elapsed time.Duration) (percent float64, step int) {
	steps := s.Steps()
	if elapsed >= s.DeploymentDuration {
		return 100, len(steps)
	}
	if elapsed < 0 {
		return 0, 0
	}
	k := int(int64(elapsed) * int64(len(steps)) / int64(s.DeploymentDuration))
	if k == 0 {
		return 0, 0
	}
	if k > len(steps) {
		k = len(steps)
	}
	return steps[k-1], k
}

func (s Strategy) String() string {
	name := s.Name
	if name == "" {
		name = "custom"
	}
	return fmt.Sprintf("%s (%s %g%% over %v, bake %v)", name, s.GrowthType, s.GrowthFactor, s.DeploymentDuration, s.FinalBakeTime)
}
