// Retrying failed forwards after the traffic source's postback URL is fixed (POST
// /api/postback-deliveries/retry), and the forward outcomes in /api/metrics. The traffic source is
// a local HTTP listener on 127.0.0.1: these tests never send traffic anywhere else.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { attributionFor } from '../../src/attribution/service.js';
import { campaigns, postbackDeliveries } from '../../src/db/schema.js';
import { createFixture, seedVisit, type Fixture, type FixtureOptions } from '../helpers/attribution-fixtures.js';
import { authHeaders, BACKENDS, buildTestApp, openTestBackend, type TestApp, type TestBackendResources } from '../helpers/test-app.js';

interface Listener {
  server: Server;
  port: number;
  hits: { path: string; query: URLSearchParams }[];
  /** Paths answered 503 for now (a traffic source down for a while). */
  down: Set<string>;
  /** Paths whose requests are held unanswered (a slow traffic source) until `release` is called. */
  slow: Set<string>;
  held: (() => void)[];
}

/** Answers 404 under /gone/ (the wrong template), 503 under /busy/ and on `down` paths, 200 anywhere else. */
async function startListener(): Promise<Listener> {
  const l: Listener = { server: undefined as unknown as Server, port: 0, hits: [], down: new Set(), slow: new Set(), held: [] };
  l.server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    l.hits.push({ path: url.pathname, query: url.searchParams });
    if (l.slow.has(url.pathname)) {
      l.held.push(() => res.writeHead(200).end());
      return;
    }
    res.writeHead(url.pathname.startsWith('/gone/') ? 404 : url.pathname.startsWith('/busy/') || l.down.has(url.pathname) ? 503 : 200).end();
  });
  await new Promise<void>((resolve) => l.server.listen(0, '127.0.0.1', resolve));
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}

/** The value of one series in the exposition text (0 when absent). */
function series(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(BACKENDS)('retrying failed postback forwards on %s', (backend) => {
  let resources: TestBackendResources;
  let t: TestApp;
  let listener: Listener;
  let readKey: string;
  const db = () => t.app.ctx.db;
  const base = () => `http://127.0.0.1:${listener.port}`;
  const deliveriesOf = (conversionId: number) => db().select().from(postbackDeliveries).where(eq(postbackDeliveries.conversionId, conversionId)).orderBy(postbackDeliveries.id);
  const deliver = async (at = new Date()) => (await attributionFor(t.app.ctx)).deliver(at);
  const retry = (payload: unknown, headers: Record<string, string> = authHeaders()) =>
    t.app.inject({ method: 'POST', url: '/api/postback-deliveries/retry', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
  const patchTrafficSource = async (id: number, body: Record<string, unknown>) => {
    const res = await t.app.inject({ method: 'PATCH', url: `/api/traffic-sources/${id}`, headers: authHeaders(), payload: body });
    expect(res.statusCode, res.body).toBe(200);
  };
  const convert = async (f: Fixture, query: Record<string, string> = {}) => {
    const v = await seedVisit(t.app.ctx, f);
    const res = await t.app.inject({ url: '/postback', query: { cid: v.clickId, ...query }, headers: { accept: 'application/json' } });
    expect(res.statusCode, res.body).toBe(200);
    return { visit: v, conversionId: res.json().conversionId as number };
  };
  /** A traffic source whose template answers 404, with one conversion whose forward has failed. */
  const failedForward = async (o: FixtureOptions['trafficSource'] = {}) => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/gone/pb?cid={clickid}`, ...o } });
    const c = await convert(f);
    await deliver();
    const [d] = await deliveriesOf(c.conversionId);
    expect(d).toMatchObject({ state: 'failed', lastStatusCode: 404 });
    return { f, ...c, delivery: d };
  };
  const scrape = async () => (await t.app.inject({ url: '/api/metrics', headers: authHeaders() })).body;
  const forwards = (text: string, outcome: string) => series(text, 'tracklane_postback_forwards_total', `{outcome="${outcome}"}`);

  beforeAll(async () => {
    listener = await startListener();
    resources = await openTestBackend(backend);
    // Passes by hand (POSTBACK_WORKER_MS=0); the listener is on loopback, hence OUTBOUND_ALLOW_PRIVATE.
    t = await buildTestApp(resources, { env: { POSTBACK_WORKER_MS: '0', OUTBOUND_ALLOW_PRIVATE: '1', OUTBOUND_TIMEOUT_MS: '2000' } });
    const made = await t.app.inject({ method: 'POST', url: '/api/api-keys', headers: authHeaders(), payload: { name: 'dashboard', scope: 'read' } });
    expect(made.statusCode).toBe(201);
    readKey = made.json().key;
  });
  afterAll(async () => {
    await t?.close();
    await resources?.destroy();
    await new Promise((r) => listener?.server.close(r));
  });

  it('after the template is fixed, sends the failed forward to the new URL with every token filled, keeping its history', async () => {
    const before = await scrape();
    const { f, visit, conversionId, delivery } = await failedForward();
    const failedAt = await scrape();
    expect(forwards(failedAt, 'failed') - forwards(before, 'failed')).toBe(1);

    await patchTrafficSource(f.trafficSourceId, { postbackUrl: `${base()}/fixed/pb?ext={externalid}&cid={clickid}&p={payout}&st={status}&c={campaign.id}&z={var:zone}&cur={currency}` });
    const res = await retry({ trafficSourceId: f.trafficSourceId });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ requeued: 1, skipped: 0 });

    // Pending and due now, attempts reset; the API shows the earlier attempt and the requeue.
    const list = await t.app.inject({ url: `/api/postback-deliveries?conversionId=${conversionId}`, headers: authHeaders() });
    const [queued] = list.json().items;
    expect(queued).toMatchObject({ id: delivery.id, state: 'pending', attempts: 0, lastStatusCode: null, lastError: null });
    expect(Date.parse(queued.nextAttemptAt)).toBeLessThanOrEqual(Date.now());
    expect(queued.url).toContain('/fixed/pb?');
    expect(queued.log).toHaveLength(2);
    expect(queued.log[0]).toMatchObject({ statusCode: 404, error: 'HTTP 404, not retried (check the postback URL)' });
    expect(queued.log[1]).toMatchObject({ event: 'requeued', previousUrl: `${base()}/gone/pb?cid=${visit.clickId}` });

    expect(await deliver()).toMatchObject({ delivered: 1 });
    const hits = listener.hits.filter((h) => h.path === '/fixed/pb' && h.query.get('cid') === visit.clickId);
    expect(hits).toHaveLength(1);
    expect(Object.fromEntries(hits[0].query)).toEqual({ ext: visit.externalId, cid: visit.clickId, p: '10', st: 'approved', c: String(f.campaignId), z: 'z 42&x=1', cur: 'USD' });
    const [d] = await deliveriesOf(conversionId);
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, lastStatusCode: 200, lastError: null, nextAttemptAt: null });
    expect(d.log.map((e) => e.event ?? e.statusCode)).toEqual([404, 'requeued', 200]);
    const after = await scrape();
    expect(forwards(after, 'delivered') - forwards(failedAt, 'delivered')).toBe(1);
    expect(forwards(after, 'failed')).toBe(forwards(failedAt, 'failed'));

    // Delivered now: a second retry finds nothing failed.
    expect((await retry({ trafficSourceId: f.trafficSourceId })).json()).toEqual({ requeued: 0, skipped: 0 });
  });

  it('counts forwards that will be retried, and requeues only failed ones', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/busy/pb?cid={clickid}` } });
    const { conversionId } = await convert(f);
    const before = await scrape();
    expect(await deliver()).toMatchObject({ delivered: 0, retrying: 1, failed: 0 });
    const after = await scrape();
    expect(forwards(after, 'retrying') - forwards(before, 'retrying')).toBe(1);
    expect(forwards(after, 'delivered')).toBe(forwards(before, 'delivered'));
    // Still pending (its retry is due later): neither requeued nor counted as skipped.
    const [pending] = await deliveriesOf(conversionId);
    expect(pending.state).toBe('pending');
    expect((await retry({ ids: [pending.id] })).json()).toEqual({ requeued: 0, skipped: 0 });
    expect((await deliveriesOf(conversionId))[0]).toMatchObject({ state: 'pending', attempts: 1 });
    // Leave nothing pending for the other tests' passes.
    await db().update(postbackDeliveries).set({ state: 'failed', nextAttemptAt: null }).where(eq(postbackDeliveries.id, pending.id));
  });

  it('requeues exactly the deliveries chosen by ids, trafficSourceId and since', async () => {
    const a1 = await failedForward();
    const a2 = await convert(a1.f);
    await deliver();
    const b = await failedForward();
    for (const x of [a1, b]) await patchTrafficSource(x.f.trafficSourceId, { postbackUrl: `${base()}/ok/${x.f.trafficSourceId}?cid={clickid}` });
    const [a2Delivery] = await deliveriesOf(a2.conversionId);
    expect(a2Delivery.state).toBe('failed');

    // A traffic source that does not exist is named, not answered as "nothing had failed".
    const unknown = await retry({ trafficSourceId: 2_000_000_000 });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toEqual({ code: 'not_found', message: 'traffic source 2000000000 not found', field: 'trafficSourceId' });
    // Criteria narrow each other: an id of another traffic source matches nothing.
    expect((await retry({ ids: [a1.delivery.id], trafficSourceId: b.f.trafficSourceId })).json()).toEqual({ requeued: 0, skipped: 0 });
    expect((await retry({ trafficSourceId: a1.f.trafficSourceId, since: new Date(Date.now() + 3600_000).toISOString() })).json()).toEqual({ requeued: 0, skipped: 0 });
    expect((await retry({ ids: [a1.delivery.id] })).json()).toEqual({ requeued: 1, skipped: 0 });
    expect((await deliveriesOf(a2.conversionId))[0].state).toBe('failed');
    expect((await deliveriesOf(b.conversionId))[0].state).toBe('failed');

    expect((await retry({ trafficSourceId: b.f.trafficSourceId, since: new Date(Date.now() - 3600_000).toISOString() })).json()).toEqual({ requeued: 1, skipped: 0 });
    expect((await deliveriesOf(a2.conversionId))[0].state).toBe('failed');
    expect(await deliver()).toMatchObject({ delivered: 2, failed: 0 });
    expect(listener.hits.filter((h) => h.path === `/ok/${a1.f.trafficSourceId}`).map((h) => h.query.get('cid'))).toEqual([a1.visit.clickId]);
    expect(listener.hits.filter((h) => h.path === `/ok/${b.f.trafficSourceId}`).map((h) => h.query.get('cid'))).toEqual([b.visit.clickId]);

    expect((await retry({ trafficSourceId: a1.f.trafficSourceId })).json()).toEqual({ requeued: 1, skipped: 0 });
    expect(await deliver()).toMatchObject({ delivered: 1 });
    expect((await deliveriesOf(a2.conversionId))[0]).toMatchObject({ state: 'delivered', url: `${base()}/ok/${a1.f.trafficSourceId}?cid=${a2.visit.clickId}` });
  });

  it('forwards each status as it was queued, not the conversion’s latest', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/gone/st?cid={clickid}&st={status}`, postbackStatuses: ['pending', 'approved'] } });
    const { visit, conversionId } = await convert(f, { status: 'pending', payout: '3', txid: 'S' });
    await convert(f, { status: 'pending', txid: 'other' });
    await t.app.inject({ url: '/postback', query: { cid: visit.clickId, status: 'approved', payout: '4.5', txid: 'S' } });
    await deliver();
    expect((await deliveriesOf(conversionId)).map((d) => d.state)).toEqual(['failed', 'failed']);

    await patchTrafficSource(f.trafficSourceId, { postbackUrl: `${base()}/st-fixed?cid={clickid}&st={status}&p={payout}` });
    expect((await retry({ ids: (await deliveriesOf(conversionId)).map((d) => d.id) })).json()).toEqual({ requeued: 2, skipped: 0 });
    await deliver();
    const sent = listener.hits.filter((h) => h.path === '/st-fixed' && h.query.get('cid') === visit.clickId).map((h) => `${h.query.get('st')} ${h.query.get('p')}`);
    expect(sent.sort()).toEqual(['approved 4.5', 'pending 3']);
  });

  it('skips forwards the traffic source or campaign no longer wants, and leaves them as they were', async () => {
    const noUrl = await failedForward();
    await patchTrafficSource(noUrl.f.trafficSourceId, { postbackUrl: null });
    const noStatus = await failedForward({ postbackStatuses: ['approved'] });
    await patchTrafficSource(noStatus.f.trafficSourceId, { postbackUrl: `${base()}/ok/status?cid={clickid}`, postbackStatuses: ['declined'] });
    const off = await failedForward();
    await patchTrafficSource(off.f.trafficSourceId, { postbackUrl: `${base()}/ok/off?cid={clickid}` });
    await db().update(campaigns).set({ forwardPostbacks: false }).where(eq(campaigns.id, off.f.campaignId));

    for (const x of [noUrl, noStatus, off]) {
      expect((await retry({ trafficSourceId: x.f.trafficSourceId })).json()).toEqual({ requeued: 0, skipped: 1 });
      const [d] = await deliveriesOf(x.conversionId);
      expect(d).toMatchObject({ state: 'failed', attempts: 1, url: x.delivery.url, lastStatusCode: 404 });
      expect(d.log).toHaveLength(1);
    }
    // Two forwards of one conversion that a template without {status} fills alike are sent once.
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/gone/twice?cid={clickid}&st={status}`, postbackStatuses: ['pending', 'approved'] } });
    const { visit, conversionId } = await convert(f, { status: 'pending', txid: 'T' });
    await t.app.inject({ url: '/postback', query: { cid: visit.clickId, status: 'approved', txid: 'T' } });
    await deliver();
    await patchTrafficSource(f.trafficSourceId, { postbackUrl: `${base()}/once?cid={clickid}` });
    expect((await retry({ trafficSourceId: f.trafficSourceId })).json()).toEqual({ requeued: 1, skipped: 1 });
    await deliver();
    expect(listener.hits.filter((h) => h.path === '/once' && h.query.get('cid') === visit.clickId)).toHaveLength(1);
    expect((await deliveriesOf(conversionId)).map((d) => d.state).sort()).toEqual(['delivered', 'failed']);
  });

  it('is refused to read-only keys and without a key, and changes nothing', async () => {
    const { f, conversionId } = await failedForward();
    await patchTrafficSource(f.trafficSourceId, { postbackUrl: `${base()}/ok/ro?cid={clickid}` });
    const ro = await retry({ trafficSourceId: f.trafficSourceId }, authHeaders(readKey));
    expect(ro.statusCode).toBe(403);
    expect(ro.json().error.code).toBe('forbidden');
    expect((await retry({ trafficSourceId: f.trafficSourceId }, {})).statusCode).toBe(401);
    // The same key may still read the deliveries.
    expect((await t.app.inject({ url: '/api/postback-deliveries?state=failed', headers: authHeaders(readKey) })).statusCode).toBe(200);
    expect((await deliveriesOf(conversionId))[0]).toMatchObject({ state: 'failed', attempts: 1 });
  });

  it('answers 400 naming the field for a bad body', async () => {
    const cases: [unknown, string][] = [
      [{ trafficSourceId: 1, trafficSourceID: 2 }, 'trafficSourceID'],
      [{}, 'body'],
      [{ ids: [] }, 'ids'],
      [{ ids: ['1'] }, 'ids[0]'],
      [{ ids: [1.5] }, 'ids[0]'],
      [{ ids: [-1] }, 'ids[0]'],
      [{ trafficSourceId: 99_999_999_999 }, 'trafficSourceId'],
      [{ trafficSourceId: '7' }, 'trafficSourceId'],
      [{ since: 'yesterday' }, 'since'],
      [{ since: '2026-11-20' }, 'since'],
      [{ since: '2026-11-20T00:00:00' }, 'since'],
    ];
    for (const [body, field] of cases) {
      const res = await retry(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', field });
    }
    // Valid ISO that Postgres cannot hold (it has no year 0): a time before every forward, not a 500.
    for (const since of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00+23:59']) expect((await retry({ since, ids: [2_147_483_647] })).json()).toEqual({ requeued: 0, skipped: 0 });
    const notJson = await t.app.inject({ method: 'POST', url: '/api/postback-deliveries/retry', headers: { ...authHeaders(), 'content-type': 'application/json' }, payload: '{"ids":' });
    expect(notJson.statusCode).toBe(400);
    const noBody = await t.app.inject({ method: 'POST', url: '/api/postback-deliveries/retry', headers: authHeaders() });
    expect(noBody.statusCode).toBe(400);
  });

  it('sends the forwards of one conversion in the order they were queued, even when the first is retried', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/order/pb?cid={clickid}&st={status}`, postbackStatuses: ['approved', 'declined'] } });
    listener.down.add('/order/pb');
    const { visit, conversionId } = await convert(f, { txid: 'O', payout: '4' });
    expect(await deliver()).toMatchObject({ delivered: 0, retrying: 1 });
    listener.down.delete('/order/pb');
    expect((await t.app.inject({ url: '/postback', query: { cid: visit.clickId, txid: 'O', status: 'reversed' } })).statusCode).toBe(200);
    // The reversal waits while the approval it reverses is still to be retried...
    expect(await deliver()).toMatchObject({ delivered: 0, retrying: 0, failed: 0 });
    expect((await deliveriesOf(conversionId)).map((d) => d.state)).toEqual(['pending', 'pending']);
    // ...and goes right after it, in the same pass.
    expect(await deliver(new Date(Date.now() + 60_000))).toMatchObject({ delivered: 2 });
    const sent = listener.hits.filter((h) => h.path === '/order/pb' && h.query.get('cid') === visit.clickId).map((h) => h.query.get('st'));
    expect(sent).toEqual(['approved', 'approved', 'declined']);
  });

  it('forwards a status changed back (approved, declined, approved again), with the payout spelled alike each time', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/back/pb?cid={clickid}&st={status}&p={payout}`, postbackStatuses: ['approved', 'declined'] } });
    const { visit, conversionId } = await convert(f, { txid: 'B', payout: '12.5' });
    await deliver();
    const postback = (status: string) => t.app.inject({ url: '/postback', query: { cid: visit.clickId, txid: 'B', status }, headers: { accept: 'application/json' } });
    expect((await postback('declined')).json().outcome).toBe('status_changed');
    await deliver();
    // No payout: the one on the conversion, read back from Postgres as 12.500000, is sent as 12.5.
    expect((await postback('approved')).json().outcome).toBe('status_changed');
    expect(await deliver()).toMatchObject({ delivered: 1 });
    const sent = listener.hits.filter((h) => h.path === '/back/pb' && h.query.get('cid') === visit.clickId).map((h) => `${h.query.get('st')} ${h.query.get('p')}`);
    expect(sent).toEqual(['approved 12.5', 'declined 12.5', 'approved 12.5']);
    // One row per URL still: the approval's row was sent again, its log says so.
    const rows = await deliveriesOf(conversionId);
    expect(rows.map((d) => d.state)).toEqual(['delivered', 'delivered']);
    expect(rows[0].log.map((e) => e.event ?? e.statusCode)).toEqual([200, 'requeued', 200]);

    // A template without {status} fills approved and declined alike: the traffic source hears it once.
    const same = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/same/pb?cid={clickid}`, postbackStatuses: ['approved', 'declined'] } });
    const c = await convert(same, { txid: 'S' });
    await deliver();
    await t.app.inject({ url: '/postback', query: { cid: c.visit.clickId, txid: 'S', status: 'declined' } });
    await deliver();
    expect(listener.hits.filter((h) => h.path === '/same/pb' && h.query.get('cid') === c.visit.clickId)).toHaveLength(1);
    expect((await deliveriesOf(c.conversionId)).map((d) => d.log.length)).toEqual([1]);
  });

  it('leaves failed a forward whose conversion had a later status delivered since', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/late/pb?cid={clickid}&st={status}`, postbackStatuses: ['approved', 'declined'] } });
    listener.down.add('/late/pb');
    const { visit, conversionId } = await convert(f, { txid: 'L' });
    // The approval is given up (its last attempt), then the chargeback gets through.
    await db().update(postbackDeliveries).set({ attempts: 11 }).where(eq(postbackDeliveries.conversionId, conversionId));
    expect(await deliver()).toMatchObject({ failed: 1 });
    listener.down.delete('/late/pb');
    await t.app.inject({ url: '/postback', query: { cid: visit.clickId, txid: 'L', status: 'chargeback' } });
    expect(await deliver()).toMatchObject({ delivered: 1 });
    expect((await retry({ trafficSourceId: f.trafficSourceId })).json()).toEqual({ requeued: 0, skipped: 1 });
    expect((await deliveriesOf(conversionId)).map((d) => d.state)).toEqual(['failed', 'delivered']);
    const sent = listener.hits.filter((h) => h.path === '/late/pb' && h.query.get('cid') === visit.clickId).map((h) => h.query.get('st'));
    expect(sent).toEqual(['approved', 'declined']);
  });

  it('sends a forward again when its status comes back while it is being sent', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `${base()}/slow/pb?cid={clickid}&st={status}`, postbackStatuses: ['approved', 'declined'] } });
    listener.slow.add('/slow/pb');
    const { visit, conversionId } = await convert(f, { txid: 'H' });
    const pass = deliver();
    await vi.waitFor(() => expect(listener.held).toHaveLength(1));
    // While the approval is on the wire: reversed, then approved again.
    for (const status of ['declined', 'approved']) {
      expect((await t.app.inject({ url: '/postback', query: { cid: visit.clickId, txid: 'H', status }, headers: { accept: 'application/json' } })).json().outcome).toBe('status_changed');
    }
    listener.slow.delete('/slow/pb');
    listener.held.splice(0).forEach((answer) => answer());
    expect(await pass).toMatchObject({ delivered: 1 });
    // The send that was on the wire does not mark the re-armed approval done; its attempt is logged.
    const [approval, reversal] = await deliveriesOf(conversionId);
    expect(approval).toMatchObject({ state: 'pending', attempts: 0 });
    expect(approval.log.map((e) => e.event ?? e.statusCode)).toEqual(['requeued', 200]);
    expect(reversal.state).toBe('pending');

    expect(await deliver()).toMatchObject({ delivered: 2 });
    const sent = listener.hits.filter((h) => h.path === '/slow/pb' && h.query.get('cid') === visit.clickId).map((h) => h.query.get('st'));
    expect(sent).toEqual(['approved', 'declined', 'approved']);
    expect((await deliveriesOf(conversionId)).map((d) => d.state)).toEqual(['delivered', 'delivered']);
  });

  it('is documented in the OpenAPI document', async () => {
    const spec = (await t.app.inject('/openapi.json')).json();
    const op = spec.paths['/api/postback-deliveries/retry'].post;
    expect(op.tags).toEqual(['attribution']);
    expect(op.summary).toMatch(/postbackUrl/);
    expect(op.description).toMatch(/attempts reset/);
    expect(Object.keys(op.requestBody.content['application/json'].schema.properties).sort()).toEqual(['ids', 'since', 'trafficSourceId']);
    expect(op.responses['200'].content['application/json'].schema.properties).toHaveProperty('skipped');
  });
});
