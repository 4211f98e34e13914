// What the forwarding worker does after an attempt: done, retry later, or give up. Pure (no
// network, no database), so the policy is tested on its own.

/**
 * Attempts per forward, the first one included; after the last failure it is given up. With the
 * backoff below they span about 15 hours: a traffic source's outage of an evening does not cost
 * the conversions it should have been told about (an ad network optimises on them).
 */
export const MAX_DELIVERY_ATTEMPTS = 12;

/**
 * The longest wait before a retry, Retry-After included: a traffic source must not be able to park
 * a forward for days, and a forward that is given up should be given up within a bounded time.
 */
export const MAX_RETRY_DELAY_MS = 6 * 3600_000;

/** 30 s, 1 min, 2 min ... capped at MAX_RETRY_DELAY_MS (the 12 attempts span about 15 hours). */
export function deliveryBackoffMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
}

/**
 * Answers worth asking again: the target is down or overloaded (5xx), timed out waiting for us
 * (408), or asks us to slow down (429). Any other 4xx means the request itself is wrong (the
 * postback URL's path, token or click ID): the same URL gets the same answer, so it is sent once.
 * A transient 404 or 403 (a deploy, a WAF) costs that one forward; retrying every 4xx for an hour
 * would mostly fill the traffic source's logs and ours with a mistake only the user can fix.
 */
export function retryableStatus(statusCode: number): boolean {
  return statusCode >= 500 || statusCode === 408 || statusCode === 429;
}

/** Retry-After (seconds, or an HTTP date) as milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: Date): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_DELAY_MS);
  // Only something shaped like an HTTP date (it starts with a day name): Date.parse also takes
  // "1.5" or "12abc" and makes a date of them.
  if (!/[A-Za-z]{3},? /.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now.getTime()), MAX_RETRY_DELAY_MS);
}

/** How an attempt ended. */
export type AttemptResult =
  /** The target answered (after any redirects). */
  | { kind: 'answered'; statusCode: number; retryAfter?: string }
  /** The SSRF guard refused the URL or a redirect hop: nothing was sent there. */
  | { kind: 'refused'; reason: string }
  /** No answer: a timeout, a refused connection, a DNS error. */
  | { kind: 'unreachable'; reason: string };

export interface DeliveryDecision {
  state: 'delivered' | 'pending' | 'failed';
  /** Null when there is no next attempt (delivered, or given up). */
  nextAttemptAt: Date | null;
  /** What went wrong, as shown in GET /api/postback-deliveries; null when delivered. */
  error: string | null;
}

/** The outcome of attempt number `attempts` (1 for the first), made at `now`. */
export function decideDelivery(result: AttemptResult, attempts: number, now: Date): DeliveryDecision {
  if (result.kind === 'answered' && result.statusCode >= 200 && result.statusCode < 300) return { state: 'delivered', nextAttemptAt: null, error: null };
  // A refusal is the same on every attempt until the URL or OUTBOUND_ALLOW_PRIVATE changes.
  if (result.kind === 'refused') return { state: 'failed', nextAttemptAt: null, error: `refused: ${result.reason}` };
  const what = result.kind === 'answered' ? `HTTP ${result.statusCode}` : result.reason;
  if (result.kind === 'answered' && !retryableStatus(result.statusCode)) {
    // Only a 4xx or a 3xx without a Location gets here (everything from 500 up is retried).
    const why = result.statusCode >= 400 ? 'check the postback URL' : 'a redirect without a Location';
    return { state: 'failed', nextAttemptAt: null, error: `${what}, not retried (${why})` };
  }
  if (attempts >= MAX_DELIVERY_ATTEMPTS) return { state: 'failed', nextAttemptAt: null, error: `${what}, given up after ${attempts} attempts` };
  const asked = result.kind === 'answered' ? retryAfterMs(result.retryAfter, now) : undefined;
  // Never sooner than our own backoff: a Retry-After of 0 from an overloaded target is no reason to hammer it.
  const delay = Math.max(deliveryBackoffMs(attempts), asked ?? 0);
  return { state: 'pending', nextAttemptAt: new Date(now.getTime() + delay), error: what };
}
