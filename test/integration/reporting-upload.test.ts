// The reporting acceptance set built the way a user builds history: visits written by the click
// writer's own insert, conversions through POST /api/conversions with past times (including a
// reversal sent as a second upload), across New York's 2024-11-03 DST end and midnight in
// Kolkata (+5:30) and Kathmandu (+5:45). Both conversion-registration-time modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaigns, offers, trafficSources, type visits } from '../../src/db/schema.js';
import { parseCsv } from '../../src/reporting/csv.js';
import { insertVisits } from '../../src/tracking/click-writer.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

type Visit = typeof visits.$inferInsert;
type Row = Record<string, unknown>;

const visit = (clickId: string, at: string, campaignId: number, country: string, extra: Partial<Visit> = {}): Visit => ({
  clickId,
  visitedAt: new Date(at),
  campaignId,
  trafficSourceId: 1,
  offerId: campaignId,
  country,
  device: 'mobile',
  params: {},
  isUnique: true,
  cost: '0',
  ...extra,
});

const VISITS = [
  visit('up1', '2024-11-02T03:30:00Z', 1, 'US'), // New York Nov 1, 23:30 EDT
  visit('up2', '2024-11-03T05:30:00Z', 1, 'US'), // New York Nov 3, 01:30 EDT (first of two 01:30s)
  visit('up3', '2024-11-02T18:20:00Z', 2, 'IN'), // Kolkata Nov 2 23:50, Kathmandu Nov 3 00:05
  visit('up4', '2024-11-02T18:35:00Z', 2, 'IN'), // Kolkata Nov 3 00:05, Kathmandu Nov 3 00:20
  visit('upbot', '2024-11-02T12:00:00Z', 1, 'US', { isBot: true }),
];

const UPLOADS = [
  { clickId: 'up1', type: 'sale', txid: 'T1', payout: '10.00', time: '2024-11-02T04:30:00Z' }, // NY Nov 2 00:30 EDT
  { clickId: 'up1', type: 'upsell', txid: 'T2', payout: '5.50', time: '2024-11-03T07:00:00Z' }, // NY Nov 3 02:00 EST
  { clickId: 'up3', type: 'sale', txid: 'T3', payout: '20.00', time: '2024-11-02T18:40:00Z' }, // Kolkata Nov 3 00:10
  { clickId: 'up4', type: 'sale', txid: 'T4', payout: '7.00', status: 'pending', time: '2024-11-02T18:50:00Z' },
  { clickId: 'upbot', type: 'sale', txid: 'T5', payout: '3.00', time: '2024-11-02T12:30:00Z' },
];

describe.each(BACKENDS)('reports built from uploaded conversions on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  const get = (query: string) => t.app.inject({ url: `/api/reports?${query}`, headers: authHeaders() });
  const report = async (query: string) => {
    const res = await get(query);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { rows: Row[]; totals: Row };
  };
  const upload = async (payload: unknown[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/api/conversions', headers: authHeaders(), payload });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json() as { rows: { outcome: string }[] }).rows.map((r) => r.outcome);
  };
  const pick = (rows: Row[], cols: string[]) => rows.map((r) => cols.map((c) => r[c]));

  beforeAll(async () => {
    t = await setupTestApp(backend);
    const db = t.app.ctx.db;
    await db.insert(trafficSources).values({ id: 1, name: 'Push network' });
    await db.insert(offers).values([
      { id: 1, name: 'Sweeps US', url: 'https://offer.test/1', currency: 'USD' },
      { id: 2, name: 'VPN IN', url: 'https://offer.test/2', currency: 'USD' },
    ]);
    await db.insert(campaigns).values([
      { id: 1, key: 'upus', name: 'US sweeps', trafficSourceId: 1, flow: { rules: [], paths: [{ offers: [{ id: 1 }] }] } },
      { id: 2, key: 'upin', name: 'IN vpn', trafficSourceId: 1, flow: { rules: [], paths: [{ offers: [{ id: 2 }] }] } },
    ]);
    await t.app.ctx.campaigns.refresh();
    await insertVisits(db, VISITS);
    expect(await upload(UPLOADS)).toEqual(['recorded', 'recorded', 'recorded', 'recorded', 'recorded']);
    // The network reverses up3's sale a day later; re-sending up1's sale is a duplicate.
    expect(
      await upload([
        { clickId: 'up3', type: 'sale', txid: 'T3', payout: '20.00', status: 'declined', time: '2024-11-03T20:00:00Z' },
        { clickId: 'up1', type: 'sale', txid: 'T1', payout: '10.00', time: '2024-11-02T04:30:00Z' },
      ]),
    ).toEqual(['status_changed', 'duplicate']);
  });
  afterAll(async () => t?.close());

  const COLS = ['day', 'visits', 'conversions', 'pendingConversions', 'declinedConversions', 'revenue'];

  it('counts conversions on their visit day in New York across the DST change', async () => {
    const r = await report('from=2024-11-01&to=2024-11-03&tz=America/New_York&groupBy=day&attribution=visit');
    expect(pick(r.rows, COLS)).toEqual([
      ['2024-11-01', 1, 2, 0, 0, '15.500000'],
      ['2024-11-02', 2, 0, 1, 1, '0.000000'],
      ['2024-11-03', 1, 0, 0, 0, '0.000000'],
    ]);
    expect(r.totals).toMatchObject({ visits: 4, conversions: 2, pendingConversions: 1, declinedConversions: 1, revenue: '15.500000' });
  });

  it('counts conversions on their postback day in New York, the reversal off revenue', async () => {
    const r = await report('from=2024-11-01&to=2024-11-03&tz=America/New_York&groupBy=day&attribution=postback');
    expect(pick(r.rows, COLS)).toEqual([
      ['2024-11-01', 1, 0, 0, 0, '0.000000'],
      ['2024-11-02', 2, 1, 1, 1, '10.000000'],
      ['2024-11-03', 1, 1, 0, 0, '5.500000'],
    ]);
    expect(r.totals).toMatchObject({ conversions: 2, revenue: '15.500000' });
  });

  it('splits Kolkata and Kathmandu midnights exactly', async () => {
    const kolkata = await report('from=2024-11-02&to=2024-11-03&tz=Asia/Kolkata&groupBy=day&campaign=2&attribution=visit');
    expect(pick(kolkata.rows, COLS)).toEqual([
      ['2024-11-02', 1, 0, 0, 1, '0.000000'],
      ['2024-11-03', 1, 0, 1, 0, '0.000000'],
    ]);
    const kathmandu = await report('from=2024-11-02&to=2024-11-03&tz=Asia/Kathmandu&groupBy=day&campaign=2&attribution=visit');
    expect(pick(kathmandu.rows, COLS)).toEqual([['2024-11-03', 2, 0, 1, 1, '0.000000']]);
  });

  it('excludes bots unless asked, and totals equal the sum of the rows', async () => {
    const q = 'from=2024-11-01&to=2024-11-03&tz=UTC&groupBy=campaign,country&attribution=postback';
    const withBots = await report(`${q}&includeBots=true`);
    const campaign1 = withBots.rows.find((r) => r.campaignId === 1)!;
    expect(campaign1).toMatchObject({ campaignName: 'US sweeps', visits: 3, conversions: 3, revenue: '18.500000' });
    const human = await report(q);
    expect(human.rows.find((r) => r.campaignId === 1)).toMatchObject({ visits: 2, conversions: 2, revenue: '15.500000' });
    for (const r of [withBots, human]) {
      for (const metric of ['visits', 'conversions', 'pendingConversions', 'declinedConversions']) {
        expect(r.totals[metric]).toBe(r.rows.reduce((s, row) => s + (row[metric] as number), 0));
      }
      const micros = r.rows.reduce((s, row) => s + BigInt(String(row.revenue).replace('.', '')), 0n);
      expect(BigInt(String(r.totals.revenue).replace('.', ''))).toBe(micros);
    }
  });

  it('gives the same rows as CSV', async () => {
    const q = 'from=2024-11-01&to=2024-11-03&tz=America/New_York&groupBy=day,campaign&attribution=visit';
    const json = await report(q);
    const csv = await get(`${q}&format=csv`);
    expect(csv.statusCode).toBe(200);
    const [header, ...lines] = parseCsv(csv.body);
    expect(lines).toHaveLength(json.rows.length);
    for (const col of ['day', 'campaignId', 'visits', 'conversions', 'revenue', 'roi']) {
      const j = header.indexOf(col);
      expect(j, col).toBeGreaterThanOrEqual(0);
      expect(lines.map((l) => l[j])).toEqual(json.rows.map((r) => String(r[col] ?? '')));
    }
  });
});
