package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

const probeDrainLimit = 64 << 10

// checker probes one upstream actively: GET health_check.path on the
// upstream's host (not under its URL path) every interval. After
// unhealthy_threshold failing probes in a row the upstream leaves rotation;
// after healthy_threshold passing ones it comes back. Upstreams start healthy.
type checker struct {
	up       *upstream
	url      string
	interval time.Duration
	timeout  time.Duration
	expect   int
	okNeed   int32
	failNeed int32
	log      *slog.Logger
}

func newChecker(u *upstream, log *slog.Logger) *checker {
	hc := u.hc
	return &checker{
		up:       u,
		url:      u.scheme + "://" + u.host + hc.Path,
		interval: durationOr(hc.Interval.D(), time.Second),
		timeout:  durationOr(hc.Timeout.D(), time.Second),
		expect:   hc.ExpectStatus,
		okNeed:   int32(max(hc.HealthyThreshold, 1)),
		failNeed: int32(max(hc.UnhealthyThreshold, 1)),
		log:      log,
	}
}

// run probes at once and then every interval until ctx ends.
func (c *checker) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		err := c.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		c.record(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe sends one health request; nil means healthy.
func (c *checker) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "holdfast-health-check")
	res, err := c.up.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, probeDrainLimit))
	res.Body.Close()
	if !c.statusOK(res.StatusCode) {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

func (c *checker) statusOK(code int) bool {
	if c.expect == 0 {
		return code >= 200 && code <= 299
	}
	return code == c.expect
}

// record applies one probe result to the upstream's streaks and health and
// reports whether the health changed.
func (c *checker) record(err error) bool {
	u := c.up
	if err == nil {
		u.failStreak.Store(0)
		n := u.okStreak.Load()
		if n < c.okNeed { // capped: the streak only needs to reach the threshold
			n = u.okStreak.Add(1)
		}
		if u.unhealthy.Load() && n >= c.okNeed {
			u.unhealthy.Store(false)
			c.log.Info("upstream healthy again", logKeyUpstream, u.name, logKeyProbes, n)
			return true
		}
		return false
	}
	u.okStreak.Store(0)
	n := u.failStreak.Load()
	if n < c.failNeed {
		n = u.failStreak.Add(1)
	}
	if !u.unhealthy.Load() && n >= c.failNeed {
		u.unhealthy.Store(true)
		c.log.Warn("upstream unhealthy", logKeyUpstream, u.name, logKeyProbes, n, logKeyErr, err)
		return true
	}
	return false
}
