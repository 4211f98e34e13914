// Conversions reach the rollup through report_conversion_delta: nothing is counted twice or lost
// when folds run together, status changes move money between statuses, and the background fold
// (off here, ROLLUP_FOLD_MS=0) is not needed for a report to be exact.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Db } from '../../src/db/client.js';
import { bulkLoadReportData } from '../../src/reporting/bulk-load.js';
import { foldConversionDeltas, vacuumConversionDeltas } from '../../src/reporting/conversion-deltas.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

const END = new Date('2024-03-12T00:00:00Z');

/** Per status: conversions and payout in the daily set-0 postback rollup, and in raw rows. */
async function byStatus(db: Db) {
  const rollup = await rows<{ status: string; n: number; payout: string }>(
    db,
    sql`select status, sum(conversions)::int as n, sum(payout)::text as payout from report_conversion_rollup
      where attribution = 'postback' and dim_set = 0 and grain = 1440 group by 1 having sum(conversions) <> 0 order by 1`,
  );
  const raw = await rows<{ status: string; n: number; payout: string }>(
    db,
    sql`select status, count(*)::int as n, sum(payout)::text as payout from conversions group by 1 order by 1`,
  );
  return { rollup, raw };
}

const pending = async (db: Db) => Number((await rows<{ n: number }>(db, sql`select count(*)::int as n from report_conversion_delta`))[0].n);

describe.each(BACKENDS)('conversion deltas on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let db: Db;

  beforeAll(async () => {
    t = await setupTestApp(backend, { env: { ROLLUP_FOLD_MS: '0' } });
    db = t.app.ctx.db;
    await bulkLoadReportData(db, { visits: 400, conversions: 60, days: 2, campaigns: 3, end: END, batchSize: 50, viaTriggers: true });
  }, 60_000);
  afterAll(async () => t?.close());

  it('new conversions wait as deltas, and folds run together count each once', async () => {
    expect(await pending(db)).toBe(60);
    expect((await byStatus(db)).rollup).toEqual([]);
    await Promise.all([foldConversionDeltas(db), foldConversionDeltas(db), foldConversionDeltas(db, { wait: false })]);
    expect(await pending(db)).toBe(0);
    const { rollup, raw } = await byStatus(db);
    expect(raw.reduce((s, r) => s + r.n, 0)).toBe(60);
    expect(rollup).toEqual(raw);
  });

  it('a status change moves the count and money when folded; a report folds first', async () => {
    await db.execute(sql`update conversions set status = 'declined' where status = 'approved' and id % 2 = 0`);
    expect(await pending(db)).toBeGreaterThan(0);
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/reports?from=2024-03-09&to=2024-03-12&tz=UTC&attribution=postback',
      headers: authHeaders(),
    });
    expect(res.statusCode).toBe(200);
    expect(await pending(db)).toBe(0);
    const { rollup, raw } = await byStatus(db);
    expect(rollup).toEqual(raw);
    const approved = raw.find((r) => r.status === 'approved');
    expect(res.json().totals.conversions).toBe(approved?.n ?? 0);
    await vacuumConversionDeltas(db);
  });
});
