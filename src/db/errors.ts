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

/** drizzle's error for a failed statement: its message carries every bound value. */
function failedStatement(err: unknown): (Error & { query: string; params: unknown; cause?: unknown }) | undefined {
  const e = err as { query?: unknown; params?: unknown } | undefined;
  return err instanceof Error && typeof e?.query === 'string' && 'params' in e ? (err as Error & { query: string; params: unknown }) : undefined;
}

/**
 * What went wrong, in the driver's words and without the statement's parameters: those hold
 * whatever was being written (an affiliate network's postback secret, a visitor's parameters),
 * and drizzle puts them all in its message, which would put them in the log.
 */
export function errorMessage(err: unknown): string {
  const failed = failedStatement(err);
  if (!failed) return err instanceof Error ? err.message : String(err);
  // The embedded database's errors cross a thread boundary: a plain object with a message, not an Error.
  const causeMessage = (failed.cause as { message?: unknown } | undefined)?.message;
  const cause = typeof causeMessage === 'string' && causeMessage ? causeMessage : 'statement failed';
  return `${cause} (in: ${failed.query.replace(/\s+/g, ' ').trim().slice(0, 120)})`;
}

/**
 * The logger's `err` serializer, on top of pino's: a failed statement is logged with `errorMessage`
 * and its stack without the parameters; anything else as pino would.
 */
export function withoutStatementParams<T extends object>(serialize: (err: Error) => T): (err: Error) => T {
  return (err) => {
    const failed = failedStatement(err);
    if (!failed) return serialize(err);
    const message = errorMessage(failed);
    const type = failed.constructor.name;
    const clean = Object.assign(new Error(message), sqlState(failed) ? { code: sqlState(failed) } : {});
    // The frames only: the stack opens with the message, parameters included.
    const stack = failed.stack ?? '';
    const at = stack.indexOf(failed.message);
    clean.stack = `${type}: ${message}${at >= 0 ? stack.slice(at + failed.message.length) : ''}`;
    return { ...serialize(clean), type };
  };
}
