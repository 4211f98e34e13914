// Forwarding conversions to the traffic source. The traffic source is a local HTTP listener on
// 127.0.0.1: these tests never send traffic anywhere else.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedGet, OutboundRefused } from '../../src/attribution/outbound.js';
import { attributionFor } from '../../src/attribution/service.js';
import { postbackDeliveries } from '../../src/db/schema.js';
import { createFixture, seedVisit } from '../helpers/attribution-fixtures.js';
import { authHeaders, BACKENDS, buildTestApp, openTestBackend, type TestApp, type TestBackendResources } from '../helpers/test-app.js';

interface Listener {
  server: Server;
  port: number;
  hits: { path: string; query: URLSearchParams }[];
  /** Status codes to answer with, in order; 200 once exhausted. */
  script: number[];
  redirectTo?: string;
}

async function startListener(): Promise<Listener> {
  const l: Listener = { server: undefined as unknown as Server, port: 0, hits: [], script: [] };
  l.server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    l.hits.push({ path: url.pathname, query: url.searchParams });
    if (url.pathname === '/trickle') {
      // Answers 200 at once, then a byte of body every 100 ms, forever.
      res.writeHead(200);
      const timer = setInterval(() => res.write('.'), 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (url.pathname === '/redirect' && l.redirectTo) {
      res.writeHead(302, { location: l.redirectTo }).end();
      return;
    }
    res.writeHead(l.script.shift() ?? 200).end('ok');
  });
  await new Promise<void>((resolve) => l.server.listen(0, '127.0.0.1', resolve));
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}

const POSTBACK_TEMPLATE = '/pb?ext={externalid}&cid={clickid}&p={payout}&rev={revenue}&tx={txid}&st={status}&c={campaign.id}&z={var:zone}&t={type}&cur={currency}';

describe.each(BACKENDS)('postback forwarding on %s', (backend) => {
  let resources: TestBackendResources;
  let allowed: TestApp;
  let guarded: TestApp;
  let listener: Listener;
  const db = () => allowed.app.ctx.db;
  const deliveriesOf = (conversionId: number) => db().select().from(postbackDeliveries).where(eq(postbackDeliveries.conversionId, conversionId));

  beforeAll(async () => {
    listener = await startListener();
    resources = await openTestBackend(backend);
    // Two instances on one database: one may reach the local listener, one keeps the SSRF guard.
    allowed = await buildTestApp(resources, { env: { POSTBACK_WORKER_MS: '0', OUTBOUND_ALLOW_PRIVATE: '1', OUTBOUND_TIMEOUT_MS: '2000' } });
    guarded = await buildTestApp(resources, { env: { POSTBACK_WORKER_MS: '0', OUTBOUND_TIMEOUT_MS: '2000' } });
  });
  afterAll(async () => {
    await allowed?.close();
    await guarded?.close();
    await resources?.destroy();
    await new Promise((r) => listener?.server.close(r));
  });

  it('delivers the forward once, asynchronously, with every token substituted and encoded', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}${POSTBACK_TEMPLATE}` } });
    const v = await seedVisit(allowed.app.ctx, f);
    const before = listener.hits.length;
    const res = await allowed.app.inject({ url: '/postback', query: { cid: v.clickId, payout: '12.5', txid: 'T&1' }, headers: { accept: 'application/json' } });
    const { conversionId } = res.json();
    // Queued, not sent on the postback's request.
    expect(listener.hits.length).toBe(before);
    expect((await deliveriesOf(conversionId))[0].state).toBe('pending');

    const svc = await attributionFor(allowed.app.ctx);
    expect((await svc.deliver()).delivered).toBe(1);
    await svc.deliver(new Date(Date.now() + 3600_000));
    // A repeat of the postback is a duplicate and queues nothing.
    await allowed.app.inject({ url: '/postback', query: { cid: v.clickId, payout: '12.5', txid: 'T&1' } });
    await svc.deliver(new Date(Date.now() + 7200_000));

    const hits = listener.hits.slice(before);
    expect(hits).toHaveLength(1);
    const q = hits[0].query;
    expect(Object.fromEntries(q)).toEqual({
      ext: v.externalId,
      cid: v.clickId,
      p: '12.5',
      rev: '12.5',
      tx: 'T&1',
      st: 'approved',
      c: String(f.campaignId),
      z: 'z 42&x=1',
      t: 'conversion',
      cur: 'USD',
    });
    const list = await allowed.app.inject({ url: `/api/postback-deliveries?conversionId=${conversionId}`, headers: authHeaders() });
    expect(list.statusCode).toBe(200);
    const [d] = list.json().items;
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, lastStatusCode: 200 });
    expect(d.log).toHaveLength(1);
  });

  it('retries a forward after a 500, with backoff, and logs both attempts', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}/retry?cid={clickid}` } });
    const v = await seedVisit(allowed.app.ctx, f);
    const { conversionId } = (await allowed.app.inject({ url: '/postback', query: { cid: v.clickId }, headers: { accept: 'application/json' } })).json();
    const svc = await attributionFor(allowed.app.ctx);
    listener.script.push(500);
    const now = Date.now();
    expect(await svc.deliver(new Date(now))).toMatchObject({ retrying: 1 });
    let [d] = await deliveriesOf(conversionId);
    expect(d).toMatchObject({ state: 'pending', attempts: 1, lastStatusCode: 500 });
    // Not due yet: backoff.
    expect(await svc.deliver(new Date(now + 1000))).toMatchObject({ delivered: 0, retrying: 0 });
    expect(await svc.deliver(new Date(now + 5 * 60_000))).toMatchObject({ delivered: 1 });
    [d] = await deliveriesOf(conversionId);
    expect(d).toMatchObject({ state: 'delivered', attempts: 2, lastStatusCode: 200, lastError: null });
    expect(d.log.map((e) => e.statusCode)).toEqual([500, 200]);
    expect(listener.hits.filter((h) => h.path === '/retry' && h.query.get('cid') === v.clickId)).toHaveLength(2);
  });

  it('forwards only the statuses the traffic source asks for, when the conversion reaches one', async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}/status?s={status}&cid={clickid}`, postbackStatuses: ['approved'] } });
    const v = await seedVisit(allowed.app.ctx, f);
    const { conversionId } = (await allowed.app.inject({ url: '/postback', query: { cid: v.clickId, status: 'pending', txid: 'S' }, headers: { accept: 'application/json' } })).json();
    expect(await deliveriesOf(conversionId)).toHaveLength(0);
    await allowed.app.inject({ url: '/postback', query: { cid: v.clickId, status: 'approved', txid: 'S' } });
    const list = await deliveriesOf(conversionId);
    expect(list).toHaveLength(1);
    expect(list[0].url).toContain('s=approved');
    const off = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}/off` }, campaign: { forwardPostbacks: false } });
    const w = await seedVisit(allowed.app.ctx, off);
    const r = (await allowed.app.inject({ url: '/postback', query: { cid: w.clickId }, headers: { accept: 'application/json' } })).json();
    expect(await deliveriesOf(r.conversionId)).toHaveLength(0);
  });

  it('refuses loopback targets without OUTBOUND_ALLOW_PRIVATE=1 and never contacts them', async () => {
    const targets = [`http://127.0.0.1:${listener.port}/ssrf`, `http://[::1]:${listener.port}/ssrf`, `http://0x7f000001:${listener.port}/ssrf`, `http://localhost:${listener.port}/ssrf`];
    const ids: number[] = [];
    for (const url of targets) {
      const f = await createFixture(db(), { trafficSource: { postbackUrl: `${url}?cid={clickid}` } });
      const v = await seedVisit(guarded.app.ctx, f);
      ids.push((await guarded.app.inject({ url: '/postback', query: { cid: v.clickId }, headers: { accept: 'application/json' } })).json().conversionId);
    }
    const svc = await attributionFor(guarded.app.ctx);
    await svc.deliver(new Date(Date.now() + 60_000));
    for (const id of ids) {
      const [d] = await deliveriesOf(id);
      expect(d.state, d.url).toBe('failed');
      expect(d.lastError).toMatch(/loopback/);
    }
    expect(listener.hits.filter((h) => h.path === '/ssrf')).toHaveLength(0);
  });

  it('checks every redirect hop again', async () => {
    // Only 127.0.0.1 is "public" here, so the hop to [::1] must be refused before it is contacted.
    const policy = (address: string) => (address === '127.0.0.1' ? null : 'loopback');
    listener.redirectTo = `http://[::1]:${listener.port}/second-hop`;
    const err = await guardedGet(`http://127.0.0.1:${listener.port}/redirect`, { allowPrivate: false, timeoutMs: 2000, policy }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(OutboundRefused);
    expect((err as Error).message).toContain('::1');
    expect(listener.hits.filter((h) => h.path === '/second-hop')).toHaveLength(0);
    listener.redirectTo = `http://127.0.0.1:${listener.port}/second-hop`;
    const ok = await guardedGet(`http://127.0.0.1:${listener.port}/redirect`, { allowPrivate: false, timeoutMs: 2000, policy });
    expect(ok.statusCode).toBe(200);
    expect(ok.hops).toHaveLength(2);
  });

  it('delivers from the background worker without being asked', async () => {
    const worker = await buildTestApp(resources, { env: { POSTBACK_WORKER_MS: '50', OUTBOUND_ALLOW_PRIVATE: '1' } });
    try {
      const f = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}/bg?cid={clickid}` } });
      const v = await seedVisit(worker.app.ctx, f);
      await worker.app.inject({ url: '/postback', query: { cid: v.clickId } });
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !listener.hits.some((h) => h.path === '/bg' && h.query.get('cid') === v.clickId)) await new Promise((r) => setTimeout(r, 25));
      expect(listener.hits.filter((h) => h.path === '/bg' && h.query.get('cid') === v.clickId)).toHaveLength(1);
    } finally {
      await worker.close();
    }
  });

  it('never lets a target that answers slowly hold the deliveries behind it', async () => {
    // A status line that never ends: a byte every 100 ms keeps any idle timeout from firing.
    const sockets = new Set<Socket>();
    const slow = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      const timer = setInterval(() => socket.write('a'), 100);
      socket.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const slowPort = (slow.address() as AddressInfo).port;
      const targets = [`http://127.0.0.1:${listener.port}/trickle?cid={clickid}`, `http://127.0.0.1:${slowPort}/headers?cid={clickid}`, `http://127.0.0.1:${listener.port}/after-slow?cid={clickid}`];
      const ids: number[] = [];
      for (const postbackUrl of targets) {
        const f = await createFixture(db(), { trafficSource: { postbackUrl } });
        const v = await seedVisit(allowed.app.ctx, f);
        ids.push((await allowed.app.inject({ url: '/postback', query: { cid: v.clickId }, headers: { accept: 'application/json' } })).json().conversionId);
      }
      const svc = await attributionFor(allowed.app.ctx);
      const started = Date.now();
      // OUTBOUND_TIMEOUT_MS is 2000 here: the pass must end near it, not when the targets give up.
      const pass = await Promise.race([svc.deliver(new Date(Date.now() + 86_400_000)), new Promise((r) => setTimeout(() => r('still running'), 8000))]);
      expect(pass).not.toBe('still running');
      expect(Date.now() - started).toBeLessThan(6000);
      const [trickle, headers, after] = await Promise.all(ids.map(async (id) => (await deliveriesOf(id))[0]));
      // The status came at once: delivered, without waiting for a body that never ends.
      expect(trickle).toMatchObject({ state: 'delivered', attempts: 1, lastStatusCode: 200 });
      expect(headers).toMatchObject({ state: 'pending', attempts: 1, lastStatusCode: null });
      expect(headers.lastError).toMatch(/timed out after 2000 ms/);
      expect(after).toMatchObject({ state: 'delivered', attempts: 1, lastStatusCode: 200 });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => slow.close(r));
    }
  }, 15_000);
});
