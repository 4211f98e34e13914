// Property-based checks of token substitution and the redirect target: whatever a visitor puts in
// a parameter, the destination stays on the configured host, keeps an http(s) scheme, carries
// the value back intact, and is safe to put in a Location header.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildDestination, encodeTokenValue, fillTokens, metaRefreshPage } from '../../src/tracking/destination.js';

/** Values an attacker or a broken ad network would send, mixed with arbitrary unicode. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom(
    '//evil.example',
    '/\\evil.example',
    '@evil.example',
    'https://evil.example/',
    '\r\nLocation: https://evil.example',
    '%0d%0aSet-Cookie: x=1',
    '\u0000',
    '../../etc/passwd',
    "' OR 1=1 --",
    'a&b=c#d?e',
    '\ud800',
    'javascript:alert(1)',
    ' ',
    '',
  ),
  fc.array(fc.constantFrom('/', '\\', '@', ':', '#', '?', '&', '=', '%', '\r', '\n', '\t', ' ', 'é', '😀', '.', 'evil'), { maxLength: 30 }).map((a) => a.join('')),
);

const host = fc.constantFrom('offer.example.com', 'lp.example.net:8443', 'xn--bcher-kva.example', '127.0.0.1:9000');
const scheme = fc.constantFrom('http', 'https');
/** Where tokens may sit in a configured URL: path, query value, fragment. */
const template = fc
  .tuple(scheme, host, fc.constantFrom('/lp', '/', '/offer/{var:a}', ''), fc.constantFrom('?sub1={clickid}&x={var:a}', '?x={var:a}', '?q=1&x={var:a}&c={country}'), fc.constantFrom('', '#top', '#{var:a}'))
  .map(([s, h, p, q, f]) => ({ origin: `${s}://${h}`, url: `${s}://${h}${p}${q}${f}`, host: h, scheme: `${s}:` }));

// Characters Node refuses in a header value; any of them in a Location would become a 500.
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

describe('redirect target properties', () => {
  it('keeps the configured host and scheme whatever the parameters say', () => {
    fc.assert(
      fc.property(template, hostile, hostile, (t, a, country) => {
        const values = (name: string) => (name === 'var:a' ? a : name === 'country' ? country : name === 'clickid' ? 'c1ick1d' : undefined);
        const d = buildDestination(t.url, values);
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        const u = new URL(d.url);
        expect(u.host).toBe(new URL(t.origin).host);
        expect(u.protocol).toBe(t.scheme);
        expect(u.username + u.password).toBe('');
        expect(d.url).not.toMatch(INVALID_HEADER_CHAR);
        expect(d.url).not.toMatch(/\s/);
      }),
      { numRuns: 500 },
    );
  });

  it('carries a query value back exactly (well-formed unicode), without adding or removing parameters', () => {
    fc.assert(
      fc.property(scheme, host, hostile, (s, h, a) => {
        const d = buildDestination(`${s}://${h}/lp?x={var:a}&fixed=1`, (name) => (name === 'var:a' ? a : undefined));
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        const q = new URL(d.url).searchParams;
        expect(q.get('x')).toBe((a as string & { toWellFormed(): string }).toWellFormed());
        expect([...q.keys()]).toEqual(['x', 'fixed']);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes every token value to unreserved characters and percent escapes only', () => {
    fc.assert(
      fc.property(hostile, (v) => {
        expect(encodeTokenValue(v)).toMatch(/^[A-Za-z0-9\-_.~%]*$/);
        expect(fillTokens('{var:a}', () => v)).toBe(encodeTokenValue(v));
      }),
    );
  });

  it('refuses templates that are not http(s), and a meta refresh page never breaks out of its attribute', () => {
    fc.assert(
      fc.property(fc.constantFrom('javascript:alert(1)', 'data:text/html,x', 'ftp://x.example/', '//x.example/', '/relative', 'mailto:a@b.c'), (bad) => {
        expect(buildDestination(bad, () => undefined).ok).toBe(false);
      }),
    );
    fc.assert(
      fc.property(template, hostile, (t, a) => {
        const d = buildDestination(t.url, (name) => (name === 'var:a' ? a : 'x'));
        if (!d.ok) return;
        const page = metaRefreshPage(d.url);
        expect(page.match(/<meta http-equiv="refresh" content="0;url=[^"<>]*">/)).not.toBeNull();
        expect(page).not.toContain('<script');
      }),
      { numRuns: 200 },
    );
  });
});
