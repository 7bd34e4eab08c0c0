package chattextsdk

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how long to wait between attempts (the number of retries is
// WithMaxRetries). The same rules as the Python and TypeScript clients:
//
// What is retried: connection errors and timeouts before an answer arrived, and the statuses
// 408, 409, 429 and every 5xx. A stream is never retried once its answer has arrived.
//
// How long to wait before retry n (n = 0 for the first retry): the server's `retry-after-ms`
// (milliseconds) or `Retry-After` (seconds, or an HTTP-date; a date in the past means 0),
// `retry-after-ms` first; a server that asks for more than MaxRetryAfter is not retried at
// all (the error is returned at once). Without either header, exponential backoff with
// jitter: min(MaxDelay, InitialDelay * 2^n) * (1 - Jitter*U), U uniform in [0, 1).
type RetryPolicy struct {
	InitialDelay  time.Duration
	MaxDelay      time.Duration
	Jitter        float64
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy: 0.375-0.5 s, 0.75-1 s, 1.5-2 s, ... never more than 8 s; a
// Retry-After of up to 60 s is honoured.
var DefaultRetryPolicy = RetryPolicy{
	InitialDelay:  500 * time.Millisecond,
	MaxDelay:      8 * time.Second,
	Jitter:        0.25,
	MaxRetryAfter: 60 * time.Second,
}

func retryableStatus(status int) bool {
	return status == 408 || status == 409 || status == 429 || status >= 500
}

// ParseRetryAfter is the wait a response asks for in `retry-after-ms` or `Retry-After`, and
// whether it asked for one (a header that is neither a number nor an HTTP-date is ignored).
func ParseRetryAfter(header http.Header, now time.Time) (time.Duration, bool) {
	if raw := header.Get("Retry-After-Ms"); raw != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(raw), 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	raw := strings.TrimSpace(header.Get("Retry-After"))
	if raw == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseFloat(raw, 64); err == nil {
		if seconds < 0 || math.IsInf(seconds, 0) || math.IsNaN(seconds) {
			return 0, false
		}
		return time.Duration(seconds * float64(time.Second)), true
	}
	when, err := http.ParseTime(raw)
	if err != nil {
		return 0, false
	}
	if wait := when.Sub(now); wait > 0 {
		return wait, true
	}
	return 0, true
}

// Backoff is the jittered exponential wait before retry n (0-based); u is uniform in [0, 1).
func (p RetryPolicy) Backoff(n int, u float64) time.Duration {
	base := float64(p.InitialDelay) * math.Pow(2, float64(n))
	if base > float64(p.MaxDelay) {
		base = float64(p.MaxDelay)
	}
	return time.Duration(base * (1 - p.Jitter*u))
}

// Delay is the wait before retry n after an answer with these headers (nil: no answer), or
// false when the server asked for a longer wait than MaxRetryAfter.
func (p RetryPolicy) Delay(n int, header http.Header, now time.Time, u float64) (time.Duration, bool) {
	if header != nil {
		if asked, ok := ParseRetryAfter(header, now); ok {
			return asked, asked <= p.MaxRetryAfter
		}
	}
	return p.Backoff(n, u), true
}
