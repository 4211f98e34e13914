import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/config.js';
import { foldEveryMs } from '../../src/reporting/routes.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8080);
    expect(c.HOST).toBe('0.0.0.0');
    expect(c.PUBLIC_URL).toBe('http://localhost:8080');
    expect(c.ACCOUNT_CURRENCY).toBe('USD');
    expect(c.ACCOUNT_TIMEZONE).toBe('UTC');
    expect(c.TRUST_PROXY).toEqual([]);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.REDIS_URL).toBeUndefined();
  });

  it('folds report rollups every 5 s on Postgres and every second embedded, unless told otherwise', () => {
    const on = (kind: 'postgres' | 'embedded', env: Record<string, string> = {}) => foldEveryMs({ config: loadConfig(env), database: { kind } } as Parameters<typeof foldEveryMs>[0]);
    expect(on('postgres')).toBe(5000);
    expect(on('embedded')).toBe(1000);
    expect(on('postgres', { ROLLUP_FOLD_MS: '0' })).toBe(0);
    expect(on('embedded', { ROLLUP_FOLD_MS: '2500' })).toBe(2500);
  });

  it('derives PUBLIC_URL from PORT and strips a trailing slash from an explicit one', () => {
    expect(loadConfig({ PORT: '9000' }).PUBLIC_URL).toBe('http://localhost:9000');
    expect(loadConfig({ PUBLIC_URL: 'https://trk.example.com/' }).PUBLIC_URL).toBe('https://trk.example.com');
  });

  it.each([
    ['PORT', 'abc', 'invalid PORT: expected an integer 1-65535'],
    ['PORT', '70000', 'invalid PORT: expected an integer 1-65535'],
    ['TRUST_PROXY', '10.0.0.0/8,banana', 'invalid TRUST_PROXY: "banana" is not an IP address or CIDR range'],
    // inet_aton shorthands would silently trust another address: 10.0.0.1, 10.1.1.1 (octal), 10.0.0.0/8.
    ['TRUST_PROXY', '10.1', 'invalid TRUST_PROXY: "10.1" is not an IP address or CIDR range'],
    ['TRUST_PROXY', '012.1.1.1', 'invalid TRUST_PROXY: "012.1.1.1" is not an IP address or CIDR range'],
    ['BOT_IP_DENYLIST', '10.0.0/8', 'invalid BOT_IP_DENYLIST: "10.0.0/8" is not an IP address or CIDR range'],
    ['ACCOUNT_TIMEZONE', 'Mars/Olympus', 'invalid ACCOUNT_TIMEZONE'],
    ['ACCOUNT_TIMEZONE', '+05:30', 'invalid ACCOUNT_TIMEZONE'],
    ['ACCOUNT_CURRENCY', 'dollars', 'invalid ACCOUNT_CURRENCY'],
    ['DATABASE_URL', 'mysql://x', 'invalid DATABASE_URL'],
    ['PUBLIC_URL', 'javascript:alert(1)', 'invalid PUBLIC_URL'],
    ['LOG_LEVEL', 'loud', 'invalid LOG_LEVEL'],
    ['COOKIE_SAMESITE', 'strict', 'invalid COOKIE_SAMESITE: expected lax or none'],
    // PUBLIC_URL defaults to http://localhost: None without Secure is a cookie browsers drop.
    ['COOKIE_SAMESITE', 'None', 'invalid COOKIE_SAMESITE: none needs an https PUBLIC_URL'],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as ConfigError).message).toContain(message);
    expect((error as ConfigError).message).not.toContain('\n');
  });

  it('normalises TRUST_PROXY CIDRs and bare addresses', () => {
    expect(loadConfig({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8 ,::1' }).TRUST_PROXY).toEqual(['127.0.0.1/32', '10.0.0.0/8', '::1/128']);
    // An IPv4-mapped proxy address is that IPv4 address (proxy-addr matches a mapped socket address to it too).
    expect(loadConfig({ TRUST_PROXY: '0.0.0.0/0,::ffff:10.0.0.1,2001:db8::/32' }).TRUST_PROXY).toEqual(['0.0.0.0/0', '10.0.0.1/32', '2001:db8::/32']);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' }).PORT).toBe(8080);
  });

  it('knows the variables the issue names', () => {
    for (const v of ['PORT', 'HOST', 'PUBLIC_URL', 'DATABASE_URL', 'REDIS_URL', 'TRACKLANE_API_KEY', 'TRUST_PROXY', 'LOG_LEVEL', 'ACCOUNT_CURRENCY', 'ACCOUNT_TIMEZONE']) {
      expect(CONFIG_VARIABLES).toContain(v);
    }
  });
});
