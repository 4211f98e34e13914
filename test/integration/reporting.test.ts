// The reports a media buyer reads, on a known data set: visits and conversions at chosen instants
// around midnight in New York (across the 2024-03-10 DST change), Kolkata (+5:30) and
// Kathmandu (+5:45), with an upsell, a reversal, a pending conversion and a bot.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaigns, conversions, landerClicks, offers, trafficSources, visits } from '../../src/db/schema.js';
import { parseCsv } from '../../src/reporting/csv.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

type Row = Record<string, unknown> & { conversionsByType: Record<string, number>; revenueByType: Record<string, string> };

const visit = (clickId: string, at: string, campaignId: number, country: string, extra: Partial<typeof visits.$inferInsert> = {}) => ({
  clickId,
  visitedAt: new Date(at),
  campaignId,
  trafficSourceId: 1,
  offerId: campaignId,
  country,
  device: 'mobile',
  params: { src: 'fb', sub1: clickId.startsWith('a') ? 'alpha' : 'beta' },
  isUnique: true,
  cost: campaignId === 1 ? '0.10' : '0.05',
  ...extra,
});

// A conversion copies its visit's dimensions, as attribution does.
const conversion = (v: ReturnType<typeof visit>, type: string, status: 'approved' | 'pending' | 'declined', payout: string, convertedAt: string, extra: Partial<typeof conversions.$inferInsert> = {}) => ({
  clickId: v.clickId,
  type,
  status,
  payout,
  originalPayout: payout,
  originalCurrency: 'USD',
  visitedAt: v.visitedAt,
  convertedAt: new Date(convertedAt),
  campaignId: v.campaignId,
  trafficSourceId: v.trafficSourceId,
  offerId: v.offerId,
  landerId: v.landerId ?? null,
  country: v.country,
  device: v.device,
  isBot: v.isBot ?? false,
  params: v.params,
  ...extra,
});

/** Sums decimal strings exactly (micro-units), as a client checking totals would. */
const sumMoney = (values: string[]) => {
  const micros = values.reduce((s, v) => s + BigInt(v.replace('.', '')), 0n);
  const neg = micros < 0n;
  const abs = (neg ? -micros : micros).toString().padStart(7, '0');
  return `${neg ? '-' : ''}${abs.slice(0, -6)}.${abs.slice(-6)}`;
};

describe.each(BACKENDS)('reports on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  const get = async (query: string) => t.app.inject({ url: `/api/reports?${query}`, headers: authHeaders() });
  const report = async (query: string) => {
    const res = await get(query);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { rows: Row[]; totals: Row; totalRows: number; tz: string; attribution: string; currency: string };
  };

  beforeAll(async () => {
    t = await setupTestApp(backend);
    const db = t.app.ctx.db;
    await db.insert(trafficSources).values({ id: 1, name: 'PropellerAds' });
    await db.insert(offers).values([
      { id: 1, name: 'Sweepstakes US', url: 'https://offer.test/1', currency: 'USD' },
      { id: 2, name: 'VPN IN', url: 'https://offer.test/2', currency: 'USD' },
    ]);
    await db.insert(campaigns).values([
      { id: 1, key: 'c1', name: 'US sweeps', trafficSourceId: 1, flow: { rules: [], paths: [{ name: 'main', offers: [{ id: 1 }] }] } },
      { id: 2, key: 'c2', name: 'IN vpn', trafficSourceId: 1, flow: { rules: [], paths: [{ offers: [{ id: 2 }] }] } },
    ]);
    // One batch, as the click writer would send it; a retried batch must not count twice.
    const batch = [
      visit('a1', '2024-03-10T04:30:00Z', 1, 'US'), // NY Mar 9 23:30 EST
      visit('a2', '2024-03-10T05:30:00Z', 1, 'US', { landerId: 7 }), // NY Mar 10 00:30 EST
      visit('a6', '2024-03-10T08:00:00Z', 1, 'US', { isUnique: false }), // NY Mar 10 04:00 EDT
      visit('b3', '2024-03-10T18:20:00Z', 2, 'IN', { landerId: 8 }), // Kathmandu Mar 11 00:05, Kolkata Mar 10 23:50
      visit('b4', '2024-03-10T18:10:00Z', 2, 'IN'), // Kathmandu Mar 10 23:55
      visit('b5', '2024-03-10T18:35:00Z', 2, 'NP', { device: 'desktop' }), // Kolkata Mar 11 00:05
      visit('bot', '2024-03-10T12:00:00Z', 1, 'US', { isBot: true, cost: '0' }),
    ];
    await db.insert(visits).values(batch).onConflictDoNothing();
    await db.insert(visits).values(batch).onConflictDoNothing();
    // a2 clicked through its lander twice: one click. b3 never clicked.
    await db.insert(landerClicks).values({ clickId: 'a2', slot: 1, clickedAt: new Date('2024-03-10T05:31:00Z'), visitedAt: new Date('2024-03-10T05:30:00Z'), campaignId: 1 });
    await db.insert(landerClicks).values({ clickId: 'a2', slot: 2, clickedAt: new Date('2024-03-10T05:32:00Z'), visitedAt: new Date('2024-03-10T05:30:00Z'), campaignId: 1 });
    const byId = Object.fromEntries(batch.map((v) => [v.clickId, v]));
    await db.insert(conversions).values([
      conversion(byId.a1, 'conversion', 'approved', '10.00', '2024-03-10T06:00:00Z'), // NY postback Mar 10 01:00 EST
      conversion(byId.a1, 'upsell', 'approved', '5.50', '2024-03-11T05:30:00Z'), // NY Mar 11 01:30 EDT
      conversion(byId.b3, 'conversion', 'approved', '20.00', '2024-03-10T19:00:00Z'),
      conversion(byId.b4, 'conversion', 'pending', '7.00', '2024-03-10T18:50:00Z'),
      conversion(byId.bot, 'conversion', 'approved', '3.00', '2024-03-10T12:30:00Z'),
      conversion(byId.b5, 'conversion', 'approved', '12.345678', '2024-03-12T01:00:00Z', { cost: '1.00' }),
    ]);
    // The network reverses b3's sale.
    await db.update(conversions).set({ status: 'declined', updatedAt: new Date() }).where(eq(conversions.clickId, 'b3'));
  });
  afterAll(async () => t?.close());

  it('groups by New York day across the DST change, conversions at visit time', async () => {
    const r = await report('from=2024-03-09&to=2024-03-11&tz=America/New_York&groupBy=day&attribution=visit');
    expect(r.rows.map((x) => [x.day, x.visits, x.uniqueVisits, x.clicks, x.conversions, x.pendingConversions, x.declinedConversions, x.revenue, x.cost, x.profit])).toEqual([
      ['2024-03-09', 1, 1, 1, 2, 0, 0, '15.500000', '0.100000', '15.400000'],
      ['2024-03-10', 5, 4, 4, 1, 1, 1, '12.345678', '1.350000', '10.995678'],
    ]);
    expect(r.rows[0].conversionsByType).toEqual({ conversion: 1, upsell: 1 });
    expect(r.rows[0].revenueByType).toEqual({ conversion: '10.000000', upsell: '5.500000' });
    expect(r.totals).toMatchObject({ visits: 6, conversions: 3, revenue: '27.845678', cost: '1.450000', profit: '26.395678' });
    expect(r).toMatchObject({ tz: 'America/New_York', attribution: 'visit', currency: 'USD', totalRows: 2 });
  });

  it('moves conversions to the postback day, and the reversal stays off revenue', async () => {
    const r = await report('from=2024-03-09&to=2024-03-11&tz=America/New_York&groupBy=day&attribution=postback');
    expect(r.rows.map((x) => [x.day, x.visits, x.conversions, x.pendingConversions, x.declinedConversions, x.revenue, x.cost])).toEqual([
      ['2024-03-09', 1, 0, 0, 0, '0.000000', '0.100000'],
      ['2024-03-10', 5, 1, 1, 1, '10.000000', '0.350000'],
      ['2024-03-11', 0, 2, 0, 0, '17.845678', '1.000000'],
    ]);
    expect(r.rows[2]).toMatchObject({ cr: 0, epv: '0.000000', roi: 1684.5678, cpa: '0.500000' });
  });

  it('cuts days exactly at Kathmandu (+5:45) and Kolkata (+5:30) midnight', async () => {
    const ktm = await report('from=2024-03-10&to=2024-03-11&tz=Asia/Kathmandu&groupBy=day');
    expect(ktm.rows.map((x) => [x.day, x.visits])).toEqual([
      ['2024-03-10', 4],
      ['2024-03-11', 2],
    ]);
    const ccu = await report('from=2024-03-10&to=2024-03-11&tz=Asia/Kolkata&groupBy=day,country&sort=visits&order=desc');
    expect(ccu.rows.map((x) => [x.day, x.country, x.visits, x.conversions])).toEqual([
      ['2024-03-10', 'US', 3, 2],
      ['2024-03-10', 'IN', 2, 0],
      ['2024-03-11', 'NP', 1, 1],
    ]);
    const hours = await report('from=2024-03-10T23:00&to=2024-03-11T01:00&tz=Asia/Kathmandu&groupBy=hour');
    expect(hours.rows.map((x) => [x.hour, x.visits])).toEqual([
      ['2024-03-10T23:00', 1],
      ['2024-03-11T00:00', 2],
    ]);
  });

  it('groups by campaign with names, filters, and counts bots only when asked', async () => {
    const r = await report('from=2024-03-10&to=2024-03-10&groupBy=campaign,offer&sort=campaignName&order=asc');
    expect(r.rows.map((x) => [x.campaignId, x.campaignName, x.offerName, x.visits, x.clicks, x.conversions, x.revenue])).toEqual([
      [2, 'IN vpn', 'VPN IN', 3, 2, 1, '12.345678'],
      [1, 'US sweeps', 'Sweepstakes US', 3, 3, 2, '15.500000'],
    ]);
    const bots = await report('from=2024-03-10&to=2024-03-10&groupBy=campaign&campaign=1&includeBots=true');
    expect(bots.rows).toHaveLength(1);
    expect(bots.rows[0]).toMatchObject({ visits: 4, conversions: 3, revenue: '18.500000' });
    const device = await report('from=2024-03-10&to=2024-03-10&groupBy=device&country=NP,IN');
    expect(device.rows.map((x) => [x.device, x.visits])).toEqual([
      ['mobile', 2],
      ['desktop', 1],
    ]);
    // Filters are matched as written by a person (device "Desktop", OS "iOS"), not only as stored.
    const desktop = await report('from=2024-03-10&to=2024-03-10&groupBy=country&device=Desktop');
    expect(desktop.rows.map((x) => [x.country, x.visits, x.conversions])).toEqual([['NP', 1, 1]]);
    const clicksLog = (await t.app.inject({ url: '/api/clicks?from=2024-03-10&to=2024-03-10&device=DESKTOP', headers: authHeaders() })).json();
    expect(clicksLog.items.map((i: { clickId: string }) => i.clickId)).toEqual(['b5']);
    const path = await report('from=2024-03-10&to=2024-03-10&groupBy=campaign,path&campaign=1');
    expect(path.rows[0]).toMatchObject({ ruleIndex: -1, pathIndex: 0, pathName: 'main', visits: 3 });
  });

  it('reads var:NAME from raw visits and agrees with the rollups', async () => {
    const r = await report('from=2024-03-09&to=2024-03-11&tz=America/New_York&groupBy=var:sub1&attribution=visit');
    expect(r.rows.map((x) => [x['var:sub1'], x.visits, x.conversions, x.revenue])).toEqual([
      ['alpha', 3, 2, '15.500000'],
      ['beta', 3, 1, '12.345678'],
    ]);
    const viaRollup = await report('from=2024-03-09&to=2024-03-11&tz=Asia/Kathmandu&groupBy=day,campaign&attribution=postback');
    const viaRaw = await report('from=2024-03-09&to=2024-03-11&tz=Asia/Kathmandu&groupBy=day,campaign&attribution=postback&var:src=fb');
    expect(viaRaw.rows).toEqual(viaRollup.rows);
    expect(viaRaw.totals).toEqual(viaRollup.totals);
    const unaligned = await report('from=2024-03-09T00:00:01&to=2024-03-11T23:59:59&tz=Asia/Kathmandu&groupBy=day,campaign&attribution=postback');
    expect(unaligned.rows).toEqual(viaRollup.rows);
  });

  it('totals equal the sum of the rows, to the micro-unit', async () => {
    for (const q of ['groupBy=day,country', 'groupBy=campaign,device', 'groupBy=hourOfDay', 'groupBy=dayOfWeek,var:sub1']) {
      const r = await report(`from=2024-03-09&to=2024-03-12&tz=Asia/Kolkata&attribution=postback&${q}`);
      for (const m of ['revenue', 'cost', 'profit']) expect(sumMoney(r.rows.map((x) => x[m] as string)), `${q} ${m}`).toBe(r.totals[m]);
      for (const m of ['visits', 'clicks', 'conversions', 'pendingConversions', 'declinedConversions']) {
        expect(r.rows.reduce((s, x) => s + (x[m] as number), 0), `${q} ${m}`).toBe(r.totals[m]);
      }
    }
  });

  it('pages and sorts, and CSV has the same rows and columns as JSON', async () => {
    const q = 'from=2024-03-09&to=2024-03-12&tz=Asia/Kolkata&groupBy=day,campaign&sort=revenue&order=desc';
    const all = await report(`${q}&pageSize=1000`);
    const page2 = await report(`${q}&pageSize=2&page=2`);
    expect(page2.totalRows).toBe(all.totalRows);
    expect(page2.rows).toEqual(all.rows.slice(2, 4));
    const csv = await get(`${q}&format=csv`);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const [header, ...lines] = parseCsv(csv.body);
    expect(lines).toHaveLength(all.rows.length);
    lines.forEach((line, i) => {
      const row = all.rows[i];
      header.forEach((col, j) => {
        const [kind, type] = col.split(':');
        const expected = type && (kind === 'conversions' || kind === 'revenue') ? (kind === 'conversions' ? row.conversionsByType[type] ?? 0 : row.revenueByType[type] ?? '0.000000') : row[col];
        expect(line[j], `${col} row ${i}`).toBe(expected === null ? '' : String(expected));
      });
    });
  });

  it('answers bad input with a 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['from=2024-03-09&to=2024-03-10&groupBy=campaign,planet', 'groupBy'],
      ['from=2024-03-09&to=2024-03-10&tz=Mars/Olympus', 'tz'],
      ['from=2024-13-01&to=2024-03-10', 'from'],
      ['from=2024-03-09&to=yesterday', 'to'],
      ['from=2024-03-10&to=2024-03-09', 'to'],
      ['from=2024-03-09&to=2024-03-10&groupBy=day&sort=country', 'sort'],
      ['from=2024-03-09&to=2024-03-10&pageSize=1001', 'pageSize'],
      ['from=2024-03-09&to=2024-03-10&campaign=one', 'campaign'],
      ['from=2024-03-09&to=2024-03-10&campagin=1', 'campagin'],
      // Postgres refuses these; the 400 must name the date, not the (valid) time zone.
      ['from=2024-03-09T00:00:00%2B99:00&to=2024-03-10', 'from'],
      ['from=2024-03-09&to=9999-12-31', 'to'],
    ];
    for (const [q, field] of cases) {
      const res = await get(q);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error, q).toMatchObject({ code: 'invalid_request', field });
    }
  });

  it('lists raw visits and conversions with cursors, and campaign stats', async () => {
    const first = await t.app.inject({ url: '/api/clicks?from=2024-03-10&to=2024-03-10&limit=4', headers: authHeaders() });
    expect(first.statusCode, first.body).toBe(200);
    const p1 = first.json();
    expect(p1.items.map((i: { clickId: string }) => i.clickId)).toEqual(['b5', 'b3', 'b4', 'a6']);
    const second = (await t.app.inject({ url: `/api/clicks?from=2024-03-10&to=2024-03-10&limit=4&cursor=${p1.nextCursor}`, headers: authHeaders() })).json();
    expect(second.items.map((i: { clickId: string }) => i.clickId)).toEqual(['a2', 'a1']);
    expect(second.nextCursor).toBeNull();
    const convs = (await t.app.inject({ url: '/api/conversions?from=2024-03-10&to=2024-03-12&campaign=2', headers: authHeaders() })).json();
    expect(convs.items.map((i: { clickId: string; status: string }) => `${i.clickId}:${i.status}`)).toEqual(['b5:approved', 'b3:declined', 'b4:pending']);
    const csv = await t.app.inject({ url: '/api/clicks?from=2024-03-10&to=2024-03-10&format=csv&includeBots=true', headers: authHeaders() });
    expect(parseCsv(csv.body)).toHaveLength(1 + 7);
    const stats = await t.app.inject({ url: '/api/campaigns/1/stats?from=2024-03-10&to=2024-03-10', headers: authHeaders() });
    expect(stats.json().totals).toMatchObject({ visits: 3, conversions: 2, revenue: '15.500000' });
    expect((await t.app.inject({ url: '/api/campaigns/99/stats?from=2024-03-10&to=2024-03-10', headers: authHeaders() })).statusCode).toBe(404);
  });

  it('answers forged cursors and out-of-range ids with a 400, never a 500 or a cut-short CSV', async () => {
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    for (const url of [
      `/api/conversions?from=2024-03-10&to=2024-03-12&cursor=${forged('2024-03-10T18:20:00.000000Z|abc')}`,
      `/api/conversions?from=2024-03-10&to=2024-03-12&cursor=${forged('2024-03-10T18:20:00.000000Z|99999999999999999999')}`,
      `/api/conversions?from=2024-03-10&to=2024-03-12&attributed=false&cursor=${forged('2024-03-10T18:20:00.000000Z|x1')}`,
      `/api/clicks?from=2024-03-10&to=2024-03-12&cursor=${forged('2024-13-45T18:20:00.000000Z|b5')}`,
      // A CSV starts streaming at once: a bad cursor found later would leave a 200 with no rows.
      `/api/clicks?from=2024-03-10&to=2024-03-12&format=csv&cursor=${forged('2024-02-30T18:20:00.000000Z|b5')}`,
      '/api/clicks?from=2024-03-10&to=2024-03-12&format=csv&cursor=nonsense',
    ]) {
      const res = await t.app.inject({ url, headers: authHeaders() });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error, url).toMatchObject({ code: 'invalid_request', field: 'cursor' });
    }
    const stats = await t.app.inject({ url: '/api/campaigns/99999999999/stats?from=2024-03-10&to=2024-03-10', headers: authHeaders() });
    expect(stats.statusCode).toBe(400);
    expect(stats.json().error.field).toBe('id');
    // The summary takes no filters: one given is refused, not ignored as if it had narrowed the numbers.
    const filtered = await t.app.inject({ url: '/api/campaigns/1/stats?from=2024-03-10&to=2024-03-10&country=NP', headers: authHeaders() });
    expect(filtered.statusCode).toBe(400);
    expect(filtered.json().error).toMatchObject({ code: 'invalid_request', field: 'country' });
  });

  it("drills down by the ad network's ad set, ad, placement and click id, and by language, in reports and both logs", async () => {
    const db = t.app.ctx.db;
    const ad = (clickId: string, tsAdset: string, tsAd: string, tsPlacement: string, language: string) =>
      visit(clickId, '2024-05-01T10:00:00Z', 1, 'US', { tsAdset, tsAd, tsPlacement, language, externalId: `fb-${clickId}` });
    const v = [ad('d1', 'as_1', 'ad_A', 'Feed', 'en'), ad('d2', 'as_1', 'ad_B', 'Stories', 'de'), ad('d3', 'as_2', 'ad_C', 'Feed', 'en')];
    await db.insert(visits).values(v);
    // Attribution copies the visit's ad into the conversion.
    const copied = (x: (typeof v)[number]) => ({ tsAdset: x.tsAdset, tsAd: x.tsAd, tsPlacement: x.tsPlacement, language: x.language, externalId: x.externalId });
    await db.insert(conversions).values([
      conversion(v[0], 'conversion', 'approved', '10.00', '2024-05-01T11:00:00Z', copied(v[0])),
      conversion(v[1], 'conversion', 'declined', '4.00', '2024-05-01T12:00:00Z', copied(v[1])),
      conversion(v[2], 'conversion', 'pending', '2.00', '2024-05-01T13:00:00Z', copied(v[2])),
    ]);
    const day = 'from=2024-05-01&to=2024-05-01';
    const ads = await report(`${day}&campaign=1&adset=as_1&groupBy=ad`);
    expect(ads.rows.map((x) => [x.ad, x.visits, x.conversions, x.declinedConversions, x.revenue])).toEqual([
      ['ad_A', 1, 1, 0, '10.000000'],
      ['ad_B', 1, 0, 1, '0.000000'],
    ]);
    expect(ads.totals).toMatchObject({ visits: 2, conversions: 1, revenue: '10.000000' });
    const feed = await report(`${day}&placement=Feed&groupBy=adset`);
    expect(feed.rows.map((x) => [x.adset, x.visits, x.pendingConversions])).toEqual([
      ['as_1', 1, 0],
      ['as_2', 1, 1],
    ]);
    expect((await report(`${day}&externalId=fb-d2`)).totals).toMatchObject({ visits: 1, declinedConversions: 1 });
    // Language is kept lower-case, like device and OS, so a filter as a person writes it matches.
    const english = await report(`${day}&language=EN&groupBy=campaign`);
    expect(english.rows.map((x) => [x.campaignId, x.visits, x.conversions, x.pendingConversions])).toEqual([[1, 2, 1, 1]]);
    // Ad network ids are their own values: another case is another ad set.
    expect((await report(`${day}&adset=AS_1`)).totals.visits).toBe(0);

    const log = async (url: string) => {
      const res = await t.app.inject({ url, headers: authHeaders() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().items as Record<string, unknown>[];
    };
    expect((await log(`/api/clicks?${day}&adset=as_2`)).map((i) => i.clickId)).toEqual(['d3']);
    expect((await log(`/api/clicks?${day}&language=de,EN&placement=Stories`)).map((i) => i.clickId)).toEqual(['d2']);
    const chargebacks = await log(`/api/conversions?${day}&status=declined`);
    expect(chargebacks).toHaveLength(1);
    // The conversion log names the visit's path, language and ad as the click log does.
    expect(chargebacks[0]).toMatchObject({ clickId: 'd2', status: 'declined', ruleIndex: -1, pathIndex: 0, language: 'de', adset: 'as_1', ad: 'ad_B', placement: 'Stories', externalId: 'fb-d2' });
    expect((await log(`/api/conversions?${day}&status=Pending,approved`)).map((i) => i.clickId)).toEqual(['d3', 'd1']);
    expect((await log(`/api/conversions?${day}&ad=ad_A,ad_C`)).map((i) => i.clickId)).toEqual(['d3', 'd1']);
  });

  it('names the paths of a one-campaign report, and refuses filters a log cannot apply', async () => {
    const one = await report('from=2024-03-10&to=2024-03-10&groupBy=path&campaign=1');
    expect(one.rows.map((x) => [x.ruleIndex, x.pathIndex, x.pathName, x.visits])).toEqual([[-1, 0, 'main', 3]]);
    // Two campaigns' path 0 are different paths: no name to give.
    const two = await report('from=2024-03-10&to=2024-03-10&groupBy=path&campaign=1,2');
    expect(two.rows.map((x) => x.pathName)).toEqual([null]);

    const refused = async (url: string, field: string, message?: string) => {
      const res = await t.app.inject({ url, headers: authHeaders() });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error, url).toMatchObject({ code: 'invalid_request', field, ...(message ? { message } : {}) });
    };
    await refused('/api/conversions?from=2024-03-10&to=2024-03-12&status=refunded', 'status');
    // A postback that found no click has no campaign or status: the filter would be ignored.
    await refused('/api/conversions?from=2024-03-10&to=2024-03-12&attributed=false&campaign=1', 'campaign');
    await refused('/api/conversions?from=2024-03-10&to=2024-03-12&attributed=false&status=pending', 'status');
    await refused('/api/reports?from=2024-03-10', 'to', 'to: required (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])');
    await refused('/api/clicks?to=2024-03-10', 'from', 'from: required (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])');
  });

  it('sums payouts that each take every digit a payout may have, where the report tables used to overflow', async () => {
    const db = t.app.ctx.db;
    const big = [visit('big1', '2024-04-01T10:00:00Z', 2, 'IN'), visit('big2', '2024-04-01T10:05:00Z', 2, 'IN')];
    await db.insert(visits).values(big);
    await db.insert(conversions).values(big.map((v) => conversion(v, 'conversion', 'approved', '999999999999.999999', '2024-04-01T11:00:00Z')));
    const r = await report('from=2024-04-01&to=2024-04-01&groupBy=campaign');
    expect(r.rows.map((x) => [x.campaignId, x.conversions, x.revenue])).toEqual([[2, 2, '1999999999999.999998']]);
    // The fold that failed then failed on every pass, so every later report was a 500 too.
    expect((await get('from=2024-03-09&to=2024-03-11&groupBy=day')).statusCode).toBe(200);
  });
});
