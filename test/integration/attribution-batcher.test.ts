// The conversion insert batcher when Postgres does not answer at all (a host down or a network
// partition: connections time out instead of being refused). The "Postgres" here is a TCP
// listener on 127.0.0.1 that accepts and never says a word, as a partitioned host would look.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInsertBatcher, type InsertRequest } from '../../src/attribution/insert-batcher.js';
import { openPostgres, type Database } from '../../src/db/client.js';
import { isUnavailable } from '../../src/db/errors.js';

describe('conversion inserts while Postgres does not answer', () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  let database: Database;

  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    database = openPostgres({ url: `postgres://postgres@127.0.0.1:${port}/tracklane_test_silent`, poolMax: 4 });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await database?.close().catch(() => undefined);
    await new Promise((r) => silent.close(r));
  });

  const request = (i: number): InsertRequest => ({
    values: {
      clickId: `silent${i}`,
      status: 'approved',
      payout: '1',
      originalPayout: '1',
      originalCurrency: 'USD',
      visitedAt: new Date(),
      convertedAt: new Date(),
      campaignId: 1,
      trafficSourceId: 1,
    },
    forward: null,
  });

  it('answers every postback of a failed batch at once, not one connection timeout after another', async () => {
    const batcher = createInsertBatcher(database.db, { maxInFlight: 1 });
    const started = Date.now();
    // Arriving in one turn of the event loop, they form one batch.
    const settled = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        batcher.insert(request(i)).then(
          () => ({ error: undefined as unknown, at: Date.now() - started }),
          (error: unknown) => ({ error, at: Date.now() - started }),
        ),
      ),
    );
    // One connection timeout (3 s) for the batch; before, each row then waited its own (+15 s).
    for (const s of settled) {
      expect(isUnavailable(s.error), String(s.error)).toBe(true);
      expect(s.at).toBeLessThan(6000);
    }
  }, 30_000);
});
