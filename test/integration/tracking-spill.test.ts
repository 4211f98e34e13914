// The click writer on its own: visits Postgres refuses at shutdown go to disk and are written by
// the next process; a row Postgres refuses for its content never holds back the rows behind it.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Db } from '../../src/db/client.js';
import { createClickWriter } from '../../src/tracking/click-writer.js';
import type { VisitRow } from '../../src/tracking/hot-click.js';
import { BACKENDS, openTestBackend, type TestBackendResources } from '../helpers/test-app.js';

const log = pino({ level: 'silent' });
const visit = (clickId: string, over: Partial<VisitRow> = {}): VisitRow => ({
  clickId,
  visitedAt: new Date('2030-01-01T00:00:00Z'),
  campaignId: 1,
  trafficSourceId: 1,
  params: { zone: '7' },
  cost: '0.01',
  ...over,
});
/** A database that is down: every statement fails the way a refused connection does (no SQLSTATE). */
const downDb = { execute: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })) } as unknown as Db;

describe.each(BACKENDS)('click writer spill and replay on %s', (backend) => {
  let b: TestBackendResources;
  let dir: string;
  beforeAll(async () => {
    b = await openTestBackend(backend);
    dir = mkdtempSync(join(tmpdir(), 'tracklane-spill-'));
  });
  afterAll(async () => {
    await b?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  const opts = (db: Db) => ({ db, log, batchMax: 50, flushMs: 20, bufferMax: 1000, spillDir: dir, holdTimeoutMs: 1000 });
  const count = async () => (await rows<{ n: number }>(b.database.db, sql`select count(*)::int as n from visits`))[0].n;

  it('spills what Postgres refuses at shutdown, and the next start writes it exactly once', async () => {
    const down = await createClickWriter(opts(downDb));
    for (let i = 0; i < 120; i++) down.add(visit(`spill${String(i).padStart(4, '0')}`));
    expect((await down.peek('spill0007'))?.clickId).toBe('spill0007');
    await down.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson')).length).toBeGreaterThan(0);
    expect(down.stats().visits).toMatchObject({ spilled: 120, buffered: 0, dropped: {} });

    const up = await createClickWriter(opts(b.database.db));
    await up.flush();
    expect(await count()).toBe(120);
    expect(up.stats().visits.replayed).toBe(120);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    // Replaying the same visits again (another instance, a retry) adds nothing.
    for (let i = 0; i < 120; i++) up.add(visit(`spill${String(i).padStart(4, '0')}`));
    await up.close();
    expect(await count()).toBe(120);
    const [row] = await rows<{ params: unknown; cost: string }>(b.database.db, sql`select params, cost from visits where click_id = 'spill0007'`);
    expect(row).toEqual({ params: { zone: '7' }, cost: '0.010000' });
  });

  it('sets aside a row Postgres refuses and writes the rest of its batch', async () => {
    const w = await createClickWriter(opts(b.database.db));
    const before = await count();
    for (let i = 0; i < 30; i++) w.add(visit(`bad${String(i).padStart(3, '0')}`, i === 17 ? { country: 'TOOLONG' } : {}));
    await w.close();
    expect(await count()).toBe(before + 29);
    expect(w.stats().visits.dropped).toEqual({ refused_by_postgres: 1 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.rejected'))).toHaveLength(1);
  });
});
