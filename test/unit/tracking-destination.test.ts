import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divideBy1000, visitCost, visitParams } from '../../src/tracking/click.js';
import { buildDestination, encodeTokenValue, escapeHtml, metaRefreshPage, safeUrl } from '../../src/tracking/destination.js';
import { countryOf, parseLanguage, parseUserAgent, referrerDomain } from '../../src/tracking/visitor.js';

const TEMPLATES = [
  'https://offer.example/path/{var:a}?x={var:a}&y={clickid}#{var:b}',
  'http://offer.example:8080/{var:a}{var:b}',
  'https://offer.example?{var:a}={var:b}',
  'https://offer.example/a/b/../{var:a}/c?q=1&r={externalid}',
  'https://user@offer.example/{var:a}',
];

const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('//evil.example', '/\\evil.example', '@evil.example', '\r\nLocation: https://evil.example', '%0d%0a', 'https://evil.example', '\\\\evil.example', '..', '#', '?', '\ud800'),
);

describe('destination URLs', () => {
  it('never leave the configured host and never carry header-breaking characters (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TEMPLATES), hostile, hostile, (template, a, b) => {
        const d = buildDestination(template, (name) => (name === 'var:a' ? a : name === 'var:b' ? b : name === 'clickid' ? 'ABC123' : name === 'externalid' ? a : undefined));
        if (template.includes('user@')) {
          // Credentials in a destination are refused outright: they are how phishing links hide a host.
          expect(d.ok).toBe(false);
          return;
        }
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        const u = new URL(d.url);
        expect(u.hostname).toBe('offer.example');
        expect(['http:', 'https:']).toContain(u.protocol);
        expect(d.url).toMatch(/^[\x21-\x7e]+$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any value through the query string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (value) => {
        const d = buildDestination('https://offer.example/?v={var:v}', () => value);
        expect(d.ok && new URL(d.url).searchParams.get('v')).toBe(value);
      }),
    );
  });

  it('refuses non-http(s) and malformed templates', () => {
    expect(buildDestination('javascript:alert(1)', () => '').ok).toBe(false);
    expect(buildDestination('ftp://offer.example/', () => '').ok).toBe(false);
    expect(buildDestination('https://{var:host}.example/', () => 'evil').ok).toBe(false);
    expect(buildDestination('not a url', () => '').ok).toBe(false);
    expect(safeUrl('data:text/html,hi')).toBeUndefined();
    expect(safeUrl('https://fallback.example/p?q=1')).toBe('https://fallback.example/p?q=1');
  });

  it('leaves unknown tokens visible and fills missing ones with nothing', () => {
    const d = buildDestination('https://o.example/?a={nope}&b={var:missing}', (n) => (n.startsWith('var:') ? '' : undefined));
    expect(d.ok && d.url).toBe('https://o.example/?a={nope}&b=');
  });

  it('encodes every reserved character', () => {
    expect(encodeTokenValue("a&b=c d/e?f#g'h(i)*!")).toBe('a%26b%3Dc%20d%2Fe%3Ff%23g%27h%28i%29%2A%21');
  });

  it('escapes the URL in refresh pages', () => {
    expect(escapeHtml(`"<a href='x'>&`)).toBe('&quot;&lt;a href=&#39;x&#39;&gt;&amp;');
    const page = metaRefreshPage('https://o.example/?a=1&b="><script>', { noReferrer: true });
    expect(page).toContain('content="0;url=https://o.example/?a=1&amp;b=&quot;&gt;&lt;script&gt;"');
    expect(page).toContain('<meta name="referrer" content="no-referrer">');
  });
});

describe('visit cost', () => {
  it('divides a CPM price by 1000 exactly', () => {
    expect(divideBy1000('2.5')).toBe('0.0025');
    expect(divideBy1000('1000')).toBe('1');
    expect(divideBy1000('12345.678')).toBe('12.345678');
    expect(divideBy1000('0')).toBe('0');
    expect(divideBy1000('0.000001')).toBe('0.000000001');
  });

  it('books auto from the cost parameter, cpc per visit, cpm per thousand, nothing for cpa/revshare', () => {
    expect(visitCost({ costModel: 'auto', costValue: null }, '0.05')).toBe('0.05');
    expect(visitCost({ costModel: 'auto', costValue: null }, '.05')).toBe('0.05');
    expect(visitCost({ costModel: 'auto', costValue: null }, '.')).toBe('0');
    expect(visitCost({ costModel: 'auto', costValue: null }, '-1')).toBe('0');
    expect(visitCost({ costModel: 'auto', costValue: null }, '1e9')).toBe('0');
    expect(visitCost({ costModel: 'auto', costValue: null }, null)).toBe('0');
    expect(visitCost({ costModel: 'cpc', costValue: '0.3' }, '9')).toBe('0.3');
    expect(visitCost({ costModel: 'cpm', costValue: '3' }, null)).toBe('0.003');
    expect(visitCost({ costModel: 'cpa', costValue: '3' }, null)).toBe('0');
    expect(visitCost({ costModel: 'revshare', costValue: '50' }, null)).toBe('0');
  });
});

describe('visitor', () => {
  it('parses user agents into device, OS and browser', () => {
    expect(parseUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1')).toEqual({
      device: 'mobile',
      os: 'ios',
      osVersion: '17.1',
      browser: 'mobile safari',
      browserVersion: '17.1',
    });
    expect(parseUserAgent('')).toEqual({ device: 'desktop', os: null, osVersion: null, browser: null, browserVersion: null });
    // No model and no Mobile token: still a handheld OS, never a desktop.
    expect(parseUserAgent('Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko)')).toMatchObject({ device: 'mobile', os: 'android' });
    expect(parseUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36')).toMatchObject({ device: 'desktop', os: 'windows' });
  });

  it('reads language, referrer domain and both geo record shapes', () => {
    expect(parseLanguage('pt-BR,pt;q=0.9')).toBe('pt');
    expect(parseLanguage('*')).toBeNull();
    expect(parseLanguage(undefined)).toBeNull();
    expect(referrerDomain('https://News.Example/a?b')).toBe('news.example');
    expect(referrerDomain('android-app://com.x')).toBeNull();
    expect(referrerDomain('%%')).toBeNull();
    expect(countryOf({ country_code: 'de' })).toBe('DE');
    expect(countryOf({ country: { iso_code: 'FR' } })).toBe('FR');
    expect(countryOf(null)).toBeNull();
  });

  it('keeps query parameters bounded and free of NUL', () => {
    const params = visitParams({ a: ['1', '2'], b: 'x\u0000y', ['n'.repeat(100)]: 'long name', c: 'v'.repeat(2000) });
    expect(params).toEqual({ a: '1', b: 'xy', c: 'v'.repeat(512) });
    const many = visitParams(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, 'x'])));
    expect(Object.keys(many)).toHaveLength(64);
  });
});
