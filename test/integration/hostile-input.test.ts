// Hostile input on the public tracking endpoints (/click, /cta, /visit, /postback, /pixel.gif): over-long
// values and headers, invalid UTF-8 and percent-encoding, CR/LF, NUL, path traversal, SQL
// metacharacters, JSON bombs and wrong types. Whatever arrives: never a 5xx, the process keeps
// serving, a rejected request writes no row, and an answered redirect records exactly one visit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCases, HOSTILE_BODIES, HOSTILE_HEADERS, HOSTILE_RAW, publicTables, snapshot, type Case } from '../helpers/hostile.js';
import { seedDirectCampaign } from '../helpers/seed.js';
import { BACKENDS, setupTestApp } from '../helpers/test-app.js';

describe.each(BACKENDS)('hostile input on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let key: string;
  let tables: string[] = [];

  beforeAll(async () => {
    t = await setupTestApp(backend);
    ({ campaign: { key } } = await seedDirectCampaign(t.app.ctx, 'hostile1', 'https://offer.example/go?sub1={clickid}&v={var:v}'));
    tables = await publicTables(t.app);
  });
  afterAll(async () => t?.close());
  const check = (cases: Case[]) => checkCases(t.app, tables, cases);

  it('/click, /cta and /visit: every hostile query value, path segment and header', async () => {
    const cases: Case[] = [];
    for (const v of HOSTILE_RAW) {
      cases.push({ label: `/click ?v=${v.slice(0, 40)}`, req: { url: `/click/${key}?v=${v}&campaign_id=${v}` } });
      cases.push({ label: `/click/${v.slice(0, 40)}`, req: { url: `/click/${v}` } });
      cases.push({ label: `/cta ?cid=${v.slice(0, 40)}`, req: { url: `/cta?cid=${v}&campaign=${v}` } });
      cases.push({ label: `/cta/${v.slice(0, 40)}`, req: { url: `/cta/${v}` } });
      cases.push({ label: `/visit ?v=${v.slice(0, 40)}`, req: { url: `/visit/${key}?v=${v}&campaign_id=${v}` } });
      cases.push({ label: `/visit/${v.slice(0, 40)}`, req: { url: `/visit/${v}` } });
    }
    for (const h of HOSTILE_HEADERS) {
      cases.push({ label: `/click header ${Object.keys(h)}`, req: { url: `/click/${key}`, headers: h } });
      cases.push({ label: `/cta header ${Object.keys(h)}`, req: { url: '/cta', headers: h } });
      cases.push({ label: `/visit header ${Object.keys(h)}`, req: { url: `/visit/${key}`, headers: h } });
    }
    cases.push({ label: '/click with 2,000 params', req: { url: `/click/${key}?${Array.from({ length: 2000 }, (_, i) => `p${i}=${i}`).join('&')}` } });
    cases.push({ label: '/click POST', req: { method: 'POST', url: `/click/${key}`, payload: HOSTILE_BODIES[0] as string, headers: { 'content-type': 'application/json' } } });
    const seen = await check(cases);
    // The known campaign with hostile values is still served, and the unknown keys are plain 404s.
    expect(seen[302] ?? 0).toBeGreaterThan(0);
    expect(seen[404] ?? 0).toBeGreaterThan(0);
  });

  it('/click redirects stay on the offer host with one Location, whatever the values', async () => {
    for (const v of HOSTILE_RAW) {
      const res = await t.app.inject({ url: `/click/${key}?v=${v}` });
      // Every value is still redirected (a junk parameter never costs the visit), so the checks
      // below run for each one rather than being skipped for an answer that is not a redirect.
      expect(res.statusCode, v.slice(0, 40)).toBe(302);
      const loc = res.headers.location as string;
      expect(new URL(loc).host).toBe('offer.example');
      expect(loc).not.toMatch(/[\r\n\0 ]/);
    }
  });

  it('/postback and /pixel.gif: every hostile value in every parameter, GET and POST', async () => {
    const cases: Case[] = [];
    for (const v of HOSTILE_RAW) {
      for (const p of ['cid', 'payout', 'txid', 'status', 'type', 'currency', 'secret']) {
        const q = `cid=nosuchclick&${p}=${v}`;
        cases.push({ label: `/postback ${p}=${v.slice(0, 30)}`, req: { url: `/postback?${q}` } });
        cases.push({ label: `/pixel.gif ${p}=${v.slice(0, 30)}`, req: { url: `/pixel.gif?${q}` } });
      }
    }
    for (const body of HOSTILE_BODIES) {
      cases.push({ label: `/postback POST json ${String(body).slice(0, 30)}`, req: { method: 'POST', url: '/postback', payload: body, headers: { 'content-type': 'application/json' } } });
    }
    cases.push({ label: '/postback POST form', req: { method: 'POST', url: '/postback', payload: `cid=%ff&payout=${'9'.repeat(5000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } } });
    cases.push({ label: '/postback POST xml', req: { method: 'POST', url: '/postback', payload: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>', headers: { 'content-type': 'application/xml' } } });
    for (const h of HOSTILE_HEADERS) cases.push({ label: `/pixel.gif header ${Object.keys(h)}`, req: { url: '/pixel.gif', headers: h } });
    const before = await snapshot(t.app, ['conversions']);
    const seen = await check(cases);
    // Accepted (a postback for an unknown click waits as pending), refused naming a field, or an
    // XML body refused as a media type; nothing else...
    expect(Object.keys(seen).sort()).toEqual(['200', '400', '415']);
    // ...and no conversion for a click that does not exist, however the values were mangled.
    expect(await snapshot(t.app, ['conversions'])).toEqual(before);
  });

  it('keeps serving afterwards', async () => {
    expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    const res = await t.app.inject(`/click/${key}?v=after`);
    expect(res.statusCode).toBe(302);
    expect(new URL(res.headers.location as string).searchParams.get('v')).toBe('after');
  });
});
