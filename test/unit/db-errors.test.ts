import { DrizzleQueryError } from 'drizzle-orm/errors';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { errorMessage, isDataError, isUnavailable, sqlState, withoutStatementParams } from '../../src/db/errors.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('Postgres error classes', () => {
  it('reads the SQLSTATE through wrapping causes', () => {
    expect(sqlState(new Error('query failed', { cause: pgError('23505') }))).toBe('23505');
    expect(sqlState(new Error('no code'))).toBeUndefined();
  });

  it('calls unreachable, refusing or restarting Postgres unavailable', () => {
    for (const code of ['08006', '08001', '53300', '57P01', '57P03', '55000', '28P01', '3D000']) expect(isUnavailable(pgError(code)), code).toBe(true);
    expect(isUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isUnavailable(new Error('wrapped', { cause: new Error('Connection terminated unexpectedly') }))).toBe(true);
  });

  it('does not call a bad statement, a constraint or our own bug unavailable', () => {
    for (const code of ['23505', '22P02', '42P01', '42601', '40001']) expect(isUnavailable(pgError(code)), code).toBe(false);
    expect(isUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isDataError(pgError('23505'))).toBe(true);
    expect(isDataError(pgError('08006'))).toBe(false);
  });
});

describe('a failed statement in the log', () => {
  // drizzle's message is "Failed query: <sql>\nparams: <every bound value>": creating an affiliate
  // network while Postgres was away logged its postback secret.
  const query = 'insert into "affiliate_networks" ("id", "name", "postback_secret") values (default, $1, $2) returning "id"';
  const failed = () => new DrizzleQueryError(query, ['My network', 'the-postback-secret-4711'], Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));

  it('is worded by the driver, with the start of the statement and none of its parameters', () => {
    expect(errorMessage(failed())).toBe('connect ECONNREFUSED 127.0.0.1:5432 (in: insert into "affiliate_networks" ("id", "name", "postback_secret") values (default, $1, $2) returning "id")');
    // The embedded database's error crosses a thread: a plain object with a message.
    expect(errorMessage(new DrizzleQueryError('select 1', ['x'], { message: 'could not extend file "base/5/1": No space left on device' } as Error))).toBe(
      'could not extend file "base/5/1": No space left on device (in: select 1)',
    );
    expect(errorMessage(new Error('plain'))).toBe('plain');
  });

  it("is serialized by the logger without its parameters, stack frames kept, anything else as pino's own", () => {
    const serialize = withoutStatementParams(pino.stdSerializers.err);
    const logged = serialize(failed());
    expect(JSON.stringify(logged)).not.toContain('the-postback-secret-4711');
    expect(JSON.stringify(logged)).not.toContain('My network');
    expect(logged.message).toBe(errorMessage(failed()));
    expect(logged.type).toBe('DrizzleQueryError');
    expect(logged.stack).toMatch(/^DrizzleQueryError: connect ECONNREFUSED 127\.0\.0\.1:5432 \(in: insert into .*\)\n {4}at /);
    const other = new TypeError('x is not a function');
    expect(serialize(other)).toEqual(pino.stdSerializers.err(other));
  });
});
