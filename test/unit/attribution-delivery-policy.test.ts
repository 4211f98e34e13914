// What the forwarding worker does after each kind of answer, as pure functions: no socket, no database.
import { describe, expect, it } from 'vitest';
import { decideDelivery, deliveryBackoffMs, MAX_DELIVERY_ATTEMPTS, MAX_RETRY_DELAY_MS, retryableStatus, retryAfterMs } from '../../src/attribution/delivery-policy.js';

const now = new Date('2026-11-20T12:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms);

describe('retryableStatus', () => {
  it.each([500, 502, 503, 504, 599, 408, 429])('retries %s', (code) => expect(retryableStatus(code)).toBe(true));
  it.each([400, 401, 403, 404, 405, 409, 410, 422, 300, 304])('does not retry %s', (code) => expect(retryableStatus(code)).toBe(false));
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, capped at the longest retry delay', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Fri, 20 Nov 2026 13:00:00 GMT', now)).toBe(3600_000);
    expect(retryAfterMs('Friday, 20-Nov-26 12:30:00 GMT', now)).toBe(1800_000);
    expect(retryAfterMs('Fri, 20 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('99999999', now)).toBe(MAX_RETRY_DELAY_MS);
    expect(retryAfterMs('Sat, 20 Nov 2027 12:00:00 GMT', now)).toBe(MAX_RETRY_DELAY_MS);
  });
  it.each([undefined, '', '-5', '1.5', '12abc', 'soon'])('ignores %j', (value) => expect(retryAfterMs(value, now)).toBeUndefined());
});

describe('decideDelivery', () => {
  it('is done on a 2xx, with no next attempt', () => {
    expect(decideDelivery({ kind: 'answered', statusCode: 204 }, 3, now)).toEqual({ state: 'delivered', nextAttemptAt: null, error: null });
  });

  it('gives up at once when the guard refused the target', () => {
    expect(decideDelivery({ kind: 'refused', reason: '127.0.0.1 is a loopback address' }, 1, now)).toEqual({
      state: 'failed',
      nextAttemptAt: null,
      error: 'refused: 127.0.0.1 is a loopback address',
    });
  });

  it('gives up at once on a 4xx other than 408 and 429, and on a redirect without a Location', () => {
    expect(decideDelivery({ kind: 'answered', statusCode: 404 }, 1, now)).toEqual({ state: 'failed', nextAttemptAt: null, error: 'HTTP 404, not retried (check the postback URL)' });
    expect(decideDelivery({ kind: 'answered', statusCode: 302 }, 1, now)).toEqual({ state: 'failed', nextAttemptAt: null, error: 'HTTP 302, not retried (a redirect without a Location)' });
  });

  it('retries answers worth asking again, and no answer, with backoff', () => {
    expect(decideDelivery({ kind: 'answered', statusCode: 500 }, 1, now)).toEqual({ state: 'pending', nextAttemptAt: at(30_000), error: 'HTTP 500' });
    expect(decideDelivery({ kind: 'answered', statusCode: 408 }, 2, now)).toEqual({ state: 'pending', nextAttemptAt: at(60_000), error: 'HTTP 408' });
    expect(decideDelivery({ kind: 'unreachable', reason: 'timed out after 5000 ms' }, 3, now)).toEqual({ state: 'pending', nextAttemptAt: at(120_000), error: 'timed out after 5000 ms' });
  });

  it('waits for a Retry-After longer than the backoff, never less than the backoff', () => {
    expect(decideDelivery({ kind: 'answered', statusCode: 429, retryAfter: '600' }, 1, now).nextAttemptAt).toEqual(at(600_000));
    expect(decideDelivery({ kind: 'answered', statusCode: 503, retryAfter: 'Fri, 20 Nov 2026 14:00:00 GMT' }, 1, now).nextAttemptAt).toEqual(at(2 * 3600_000));
    expect(decideDelivery({ kind: 'answered', statusCode: 429, retryAfter: '0' }, 1, now).nextAttemptAt).toEqual(at(30_000));
    expect(decideDelivery({ kind: 'answered', statusCode: 503, retryAfter: '86400' }, 1, now).nextAttemptAt).toEqual(at(MAX_RETRY_DELAY_MS));
  });

  it(`gives up after ${MAX_DELIVERY_ATTEMPTS} attempts, within a bounded time`, () => {
    expect(decideDelivery({ kind: 'answered', statusCode: 503 }, MAX_DELIVERY_ATTEMPTS - 1, now).state).toBe('pending');
    expect(decideDelivery({ kind: 'answered', statusCode: 503 }, MAX_DELIVERY_ATTEMPTS, now)).toEqual({
      state: 'failed',
      nextAttemptAt: null,
      error: `HTTP 503, given up after ${MAX_DELIVERY_ATTEMPTS} attempts`,
    });
    let total = 0;
    for (let n = 1; n < MAX_DELIVERY_ATTEMPTS; n++) total += deliveryBackoffMs(n);
    // What the README and the API description promise: about 15 hours without Retry-After.
    expect(total).toBe(52_290_000);
  });
});
