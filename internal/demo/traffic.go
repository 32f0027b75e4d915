package demo

import (
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// counts is what one phase of traffic saw.
type counts struct {
	total     int
	errors    int
	byBackend map[string]int
	latencies []time.Duration
}

func (c counts) p99() time.Duration {
	if len(c.latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), c.latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)*99)/100]
}

// traffic is a bounded load generator: it stops by itself after its time
// budget or maxRequests, whichever comes first.
type traffic struct {
	base    string
	workers int
	client  *http.Client

	mu     sync.Mutex
	cur    counts
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

const maxRequests = 2_000_000

func newTraffic(base string, workers int) *traffic {
	return &traffic{
		base:    base,
		workers: workers,
		client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}},
		cur:     counts{byBackend: map[string]int{}},
	}
}

func (t *traffic) start(ctx context.Context, budget time.Duration) {
	ctx, t.cancel = context.WithTimeout(ctx, budget)
	var sent int64
	var smu sync.Mutex
	paths := []string{"/orders?limit=5", "/orders/3", "/customers/2/orders"}
	for w := 0; w < t.workers; w++ {
		t.wg.Add(1)
		go func(w int) {
			defer t.wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				smu.Lock()
				sent++
				over := sent > maxRequests
				smu.Unlock()
				if over {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+paths[i%len(paths)], nil)
				req.Header.Set("X-Client-Id", "demo-client")
				began := time.Now()
				resp, err := t.client.Do(req)
				if ctx.Err() != nil {
					return
				}
				backend, ok := "", false
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					backend, ok = resp.Header.Get("X-Backend"), resp.StatusCode < 500
				}
				t.record(backend, ok, time.Since(began))
			}
		}(w)
	}
}

func (t *traffic) record(backend string, ok bool, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.total++
	if !ok {
		t.cur.errors++
	} else {
		t.cur.byBackend[backend]++
	}
	t.cur.latencies = append(t.cur.latencies, d)
}

// reset returns the counts so far and starts new ones.
func (t *traffic) reset() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cur
	t.cur = counts{byBackend: map[string]int{}}
	return c
}

func (t *traffic) stop() {
	t.once.Do(func() {
		if t.cancel != nil {
			t.cancel()
		}
		t.wg.Wait()
		t.client.CloseIdleConnections()
	})
}
