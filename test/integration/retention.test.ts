import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
import { offers } from '../../src/db/schema.js';
import { bulkLoadReportData } from '../../src/reporting/bulk-load.js';
import { deleteExpiredVisits } from '../../src/tracking/retention.js';
import { seedOffer } from '../helpers/seed.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

const DAY = 86_400_000;

describe.each(BACKENDS)('visit retention on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let range: { from: Date; to: Date };
  const now = new Date();
  beforeAll(async () => {
    t = await setupTestApp(backend);
    range = await bulkLoadReportData(t.app.ctx.db, { visits: 600, conversions: 40, days: 60, campaigns: 3 });
  });
  afterAll(async () => t?.close());

  const countOf = async (query: ReturnType<typeof sql>) => (await rows<{ n: number }>(t.app.ctx.db, query))[0].n;
  const visitsBefore = (days: number) => countOf(sql`select count(*)::int as n from visits where visited_at < ${new Date(now.getTime() - days * DAY).toISOString()}::timestamptz`);
  const visitsSince = (days: number) => countOf(sql`select count(*)::int as n from visits where visited_at >= ${new Date(now.getTime() - days * DAY).toISOString()}::timestamptz`);
  const totals = async () => {
    const q = `from=${range.from.toISOString()}&to=${range.to.toISOString()}&groupBy=campaign`;
    const res = await t.app.inject({ url: `/api/reports?${q}`, headers: authHeaders() });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().totals;
  };

  it('keeps every visit inside an offer attribution window, then deletes what is past the retention, rollups untouched', async () => {
    const reportBefore = await totals();
    const conversionsBefore = await countOf(sql`select count(*)::int as n from conversions`);
    expect(await visitsBefore(45)).toBeGreaterThan(0);
    const between = (await visitsBefore(30)) - (await visitsBefore(45));
    const recent = await visitsSince(30);
    expect(between).toBeGreaterThan(0);

    // An offer attributing conversions up to 45 days after the click holds the cutoff there.
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/', attributionWindowDays: 45 });
    const first = await deleteExpiredVisits(t.app.ctx.db, { retentionDays: 30, now, batch: 50 });
    expect(first.cutoff.toISOString()).toBe(new Date(now.getTime() - 45 * DAY).toISOString());
    expect(first.done).toBe(true);
    expect(await visitsBefore(45)).toBe(0);
    expect((await visitsBefore(30)) - (await visitsBefore(45))).toBe(between);

    await t.app.ctx.db.update(offers).set({ attributionWindowDays: 7 }).where(sql`id = ${offer.id}`);
    const second = await deleteExpiredVisits(t.app.ctx.db, { retentionDays: 30, now, batch: 50 });
    expect(second.visits).toBe(between);
    expect(await visitsBefore(30)).toBe(0);
    expect(await visitsSince(30)).toBe(recent);

    // Rollups keep the deleted days; conversions are never touched.
    const reportAfter = await totals();
    expect(reportAfter).toEqual(reportBefore);
    expect(reportAfter.visits).toBe(588); // the 600 bulk visits but their 12 bots
    expect(await countOf(sql`select count(*)::int as n from conversions`)).toBe(conversionsBefore);
    expect((await deleteExpiredVisits(t.app.ctx.db, { retentionDays: 30, now })).visits).toBe(0);
  });
});
