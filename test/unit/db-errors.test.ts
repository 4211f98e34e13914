import { describe, expect, it } from 'vitest';
import { isDataError, isUnavailable, sqlState } from '../../src/db/errors.js';

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
