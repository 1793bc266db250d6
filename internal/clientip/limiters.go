package clientip

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxLimiters bounds the per-client limiters a Limiters keeps.
const MaxLimiters = 100_000

// Limiters are token buckets per client (a Key), at most MaxLimiters kept.
// A bucket full again is in the state of one never seen, so it is
// forgotten once the table is full; only if every bucket kept was spent
// lately (within Burst/Rate) do new clients share one bucket until some
// fill again. Safe for concurrent use.
type Limiters struct {
	rate  rate.Limit
	burst int

	mu       sync.Mutex
	m        map[string]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time
}

// NewLimiters returns per-client buckets of burst tokens refilled at r.
func NewLimiters(r rate.Limit, burst int) *Limiters {
	return &Limiters{rate: r, burst: burst, m: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(r, burst)}
}

// Reserve spends n tokens (at most the burst) of client's bucket at now,
// or returns how long until it could, spending nothing.
func (c *Limiters) Reserve(client string, now time.Time, n int) (bool, time.Duration) {
	c.mu.Lock()
	l := c.m[client]
	if l == nil {
		if len(c.m) >= MaxLimiters && now.Sub(c.swept) >= time.Second {
			c.swept = now
			for k, v := range c.m {
				if v.TokensAt(now) >= float64(c.burst) {
					delete(c.m, k)
				}
			}
		}
		if len(c.m) < MaxLimiters {
			l = rate.NewLimiter(c.rate, c.burst)
			c.m[client] = l
		} else {
			l = c.overflow
		}
	}
	c.mu.Unlock()
	res := l.ReserveN(now, min(n, c.burst))
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len returns the number of buckets kept.
func (c *Limiters) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
