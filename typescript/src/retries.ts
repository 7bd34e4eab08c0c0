// When to retry and how long to wait: the same rules as the Python SDK and the Go helper.
//
// What is retried: connection errors and timeouts before an answer arrived, and the statuses
// 408, 409, 429 and every 5xx. A stream is never retried once its answer has arrived.
//
// How long to wait before retry n (n = 0 for the first retry): the server's `retry-after-ms`
// (milliseconds) or `Retry-After` (seconds, or an HTTP-date; a date in the past means 0),
// `retry-after-ms` first; a server that asks for more than maxRetryAfter is not retried at all
// (the error is thrown at once). Without either header, exponential backoff with jitter:
// min(maxDelay, initialDelay * 2^n) * (1 - jitter * U), U uniform in [0, 1).

export interface RetryPolicy {
  /** Milliseconds before the first retry (before jitter). */
  initialDelay: number;
  /** Cap on the backoff, in milliseconds. */
  maxDelay: number;
  /** Fraction of the wait taken off at random (0: none, at most 1). */
  jitter: number;
  /** Longest server-requested wait honoured, in milliseconds; beyond it, no retry. */
  maxRetryAfter: number;
}

/** 375-500 ms, 750-1000 ms, 1.5-2 s, ... never more than 8 s; Retry-After up to 60 s. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialDelay: 500,
  maxDelay: 8_000,
  jitter: 0.25,
  maxRetryAfter: 60_000,
});

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Milliseconds the headers ask to wait, or undefined when they ask nothing valid. */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "") {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const raw = headers.get("retry-after")?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  // an HTTP-date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms)
  if (!/^[A-Za-z]{3}/.test(raw)) return undefined;
  const when = Date.parse(raw);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

export function backoff(policy: RetryPolicy, retry: number, random: number): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** retry);
  return base * (1 - policy.jitter * random);
}

/** The wait before retry `retry` after an answer with these headers (none: no answer), or
 * undefined when the server asked for longer than maxRetryAfter. */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  headers: Headers | undefined,
  now: number,
  random: number,
): number | undefined {
  if (headers !== undefined) {
    const asked = parseRetryAfter(headers, now);
    if (asked !== undefined) return asked <= policy.maxRetryAfter ? asked : undefined;
  }
  return backoff(policy, retry, random);
}

export function checkPolicy(policy: RetryPolicy): void {
  const { initialDelay, maxDelay, jitter, maxRetryAfter } = policy;
  if (![initialDelay, maxDelay, maxRetryAfter].every((v) => Number.isFinite(v) && v >= 0)) {
    throw new RangeError("retryPolicy delays must be finite numbers >= 0");
  }
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError("retryPolicy.jitter must be in [0, 1]");
}
