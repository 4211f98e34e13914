// What a failed statement says about Postgres: refused for what was in it (retrying it will fail
// again), or Postgres not there (retrying later will work). Writers that keep data through an
// outage (the click writer's spill, the postback spill) decide by these.

/** The SQLSTATE of a Postgres error, also when wrapped (drizzle puts the driver's error in `cause`). */
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/** Refused for what is in the rows (bad value, constraint, too long), not because Postgres is unreachable. */
export function isDataError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && /^(22|23|54)/.test(state);
}

// Socket errors of the driver, and pg / pg-pool messages that carry no code.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNREACHABLE_MESSAGE = /connection terminated|timeout exceeded when trying to connect|not queryable|connection (?:is )?closed|server closed the connection|Connection refused/i;

/**
 * Postgres could not be reached or would not take the statement now: connection exceptions (08),
 * too many connections and other lack of resources (53), shutting down or starting up (57P0x),
 * refusing connections to the database (55000, `allow_connections false`), a login or database
 * name it refuses (28, 3D000: an operator's fix away), and the driver's socket errors. Anything
 * else (a bad statement, a constraint) is not.
 */
export function isUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return /^(08|53|57P0|28|3D000$|55000$)/.test(state);
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && UNREACHABLE_MESSAGE.test(e.message)) return true;
  }
  return false;
}
