// Forwarding conversions to the traffic source. The traffic source is a local HTTP listener on
// 127.0.0.1: these tests never send traffic anywhere else.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DELIVERY_ATTEMPTS } from '../../src/attribution/delivery-policy.js';
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
  /** Answers for one path, in order, before the default; the path's own queue, so tests cannot take each other's. */
  answers: Map<string, { status: number; headers?: Record<string, string> }[]>;
  redirectTo?: string;
}

async function startListener(): Promise<Listener> {
  const l: Listener = { server: undefined as unknown as Server, port: 0, hits: [], script: [], answers: new Map() };
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
    // /status/404 answers 404 every time; /to?location=X redirects to X.
    const fixed = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (fixed) {
      res.writeHead(Number(fixed[1])).end('no');
      return;
    }
    if (url.pathname === '/to') {
      res.writeHead(302, { location: url.searchParams.get('location') ?? '/' }).end();
      return;
    }
    const queued = l.answers.get(url.pathname)?.shift();
    if (queued) {
      res.writeHead(queued.status, queued.headers).end('later');
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
  /** One conversion per postback URL, each through its own traffic source, posted back through `t`: their ids. */
  const conversionsForwardedTo = async (t: TestApp, postbackUrls: string[]) => {
    const ids: number[] = [];
    for (const postbackUrl of postbackUrls) {
      const v = await seedVisit(t.app.ctx, await createFixture(db(), { trafficSource: { postbackUrl } }));
      ids.push((await t.app.inject({ url: '/postback', query: { cid: v.clickId }, headers: { accept: 'application/json' } })).json().conversionId);
    }
    return ids;
  };

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
    expect(d).toMatchObject({ state: 'delivered', attempts: 1, lastStatusCode: 200, nextAttemptAt: null });
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

  it('refuses loopback targets without OUTBOUND_ALLOW_PRIVATE=1, never contacts them, and gives up at once', async () => {
    const targets = [`http://127.0.0.1:${listener.port}/ssrf`, `http://[::1]:${listener.port}/ssrf`, `http://0x7f000001:${listener.port}/ssrf`, `http://localhost:${listener.port}/ssrf`];
    const ids = await conversionsForwardedTo(guarded, targets.map((url) => `${url}?cid={clickid}`));
    const svc = await attributionFor(guarded.app.ctx);
    await svc.deliver(new Date(Date.now() + 60_000));
    for (const id of ids) {
      const [d] = await deliveriesOf(id);
      expect(d, d.url).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null, lastStatusCode: null });
      expect(d.lastError).toMatch(/^refused: .*loopback address/);
    }
    // Not tried again, however late the next pass.
    await svc.deliver(new Date(Date.now() + 30 * 86_400_000));
    const list = await guarded.app.inject({ url: `/api/postback-deliveries?conversionId=${ids[0]}`, headers: authHeaders() });
    expect(list.statusCode).toBe(200);
    expect(list.json().items[0]).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null, lastError: expect.stringMatching(/^refused: 127\.0\.0\.1 is a loopback address/) });
    const [byName] = await deliveriesOf(ids[3]);
    expect(byName.lastError).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect(listener.hits.filter((h) => h.path === '/ssrf')).toHaveLength(0);
  });

  it('gives up at once on a scheme other than http(s), and on a redirect to one', async () => {
    const ids = await conversionsForwardedTo(allowed, [
      `gopher://127.0.0.1:${listener.port}/scheme?cid={clickid}`,
      `http://127.0.0.1:${listener.port}/to?location=file%3A%2F%2F%2Fetc%2Fpasswd&cid={clickid}`,
    ]);
    const svc = await attributionFor(allowed.app.ctx);
    await svc.deliver(new Date(Date.now() + 60_000));
    await svc.deliver(new Date(Date.now() + 86_400_000));
    const [a] = await deliveriesOf(ids[0]);
    const [b] = await deliveriesOf(ids[1]);
    expect(a).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null, lastError: 'refused: scheme gopher: is not allowed (http and https only)' });
    expect(b).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null, lastError: 'refused: redirect to file:///etc/passwd: scheme file: is not allowed (http and https only)' });
    // The first hop was sent (once); the file: hop never read anything.
    expect(listener.hits.filter((h) => h.path === '/to' && h.query.get('location') === 'file:///etc/passwd')).toHaveLength(1);
    expect(listener.hits.filter((h) => h.path === '/scheme')).toHaveLength(0);
  });

  it('gives up at once on a 4xx that says the postback URL is wrong', async () => {
    const codes = [400, 401, 403, 404, 410];
    const ids = await conversionsForwardedTo(allowed, codes.map((code) => `http://127.0.0.1:${listener.port}/status/${code}?cid={clickid}`));
    const svc = await attributionFor(allowed.app.ctx);
    const before = listener.hits.length;
    await svc.deliver(new Date(Date.now() + 60_000));
    await svc.deliver(new Date(Date.now() + 86_400_000));
    for (const [i, code] of codes.entries()) {
      const [d] = await deliveriesOf(ids[i]);
      expect(d).toMatchObject({ state: 'failed', attempts: 1, nextAttemptAt: null, lastStatusCode: code, lastError: `HTTP ${code}, not retried (check the postback URL)` });
    }
    expect(listener.hits.slice(before).filter((h) => h.path.startsWith('/status/'))).toHaveLength(codes.length);
  });

  it('retries 408, 429, 5xx and connection errors, not before a Retry-After', async () => {
    // A port that was just closed: the connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    listener.answers.set('/r408', [{ status: 408 }]);
    listener.answers.set('/r502', [{ status: 502 }]);
    listener.answers.set('/r429', [{ status: 429, headers: { 'retry-after': '3600' } }]);
    const in2h = new Date(Date.now() + 2 * 3600_000).toUTCString();
    listener.answers.set('/r503', [{ status: 503, headers: { 'retry-after': in2h } }]);
    const urls = ['/r408', '/r502', '/r429', '/r503'].map((p) => `http://127.0.0.1:${listener.port}${p}?cid={clickid}`);
    urls.push(`http://127.0.0.1:${closedPort}/gone?cid={clickid}`);
    const ids = await conversionsForwardedTo(allowed, urls);
    const svc = await attributionFor(allowed.app.ctx);
    const now = Date.now();
    expect(await svc.deliver(new Date(now))).toMatchObject({ retrying: 5, failed: 0 });
    const rows = await Promise.all(ids.map(async (id) => (await deliveriesOf(id))[0]));
    const [r408, r502, r429, r503, refused] = rows;
    for (const d of rows) expect(d).toMatchObject({ state: 'pending', attempts: 1 });
    expect(r408).toMatchObject({ lastStatusCode: 408, lastError: 'HTTP 408' });
    expect(r502).toMatchObject({ lastStatusCode: 502, lastError: 'HTTP 502' });
    expect(refused.lastStatusCode).toBeNull();
    expect(refused.lastError).toMatch(/ECONNREFUSED/);
    // Our own backoff (30 s) when nothing asks for more; the Retry-After when it does.
    for (const d of [r408, r502, refused]) expect(d.nextAttemptAt!.getTime()).toBe(now + 30_000);
    expect(r429.nextAttemptAt!.getTime()).toBe(now + 3600_000);
    expect(Math.abs(r503.nextAttemptAt!.getTime() - Date.parse(in2h))).toBeLessThan(5000);

    // A pass at +5 min retries the 408 and the 502 (now answered 200) and the closed port, not the other two.
    expect(await svc.deliver(new Date(now + 5 * 60_000))).toMatchObject({ delivered: 2, retrying: 1 });
    expect(await svc.deliver(new Date(now + 61 * 60_000))).toMatchObject({ delivered: 1 });
    expect((await deliveriesOf(ids[2]))[0]).toMatchObject({ state: 'delivered', attempts: 2, nextAttemptAt: null });
    expect((await deliveriesOf(ids[3]))[0].state).toBe('pending');
    expect(await svc.deliver(new Date(now + 121 * 60_000))).toMatchObject({ delivered: 1 });
    expect((await deliveriesOf(ids[3]))[0]).toMatchObject({ state: 'delivered', attempts: 2 });
    // Leave nothing pending for the other tests' passes: the closed port is given up by hand.
    await db().update(postbackDeliveries).set({ state: 'failed', nextAttemptAt: null }).where(eq(postbackDeliveries.conversionId, ids[4]));
  });

  it(`gives up after ${MAX_DELIVERY_ATTEMPTS} attempts and says so`, async () => {
    const f = await createFixture(db(), { trafficSource: { postbackUrl: `http://127.0.0.1:${listener.port}/status/500?cid={clickid}` } });
    const v = await seedVisit(allowed.app.ctx, f);
    const { conversionId } = (await allowed.app.inject({ url: '/postback', query: { cid: v.clickId }, headers: { accept: 'application/json' } })).json();
    const svc = await attributionFor(allowed.app.ctx);
    const now = Date.now();
    // Each pass 7 h after the previous: past any backoff (at most 6 h).
    for (let i = 0; i < MAX_DELIVERY_ATTEMPTS + 2; i++) await svc.deliver(new Date(now + i * 7 * 3600_000));
    const [d] = await deliveriesOf(conversionId);
    expect(d).toMatchObject({ state: 'failed', attempts: MAX_DELIVERY_ATTEMPTS, nextAttemptAt: null, lastStatusCode: 500, lastError: `HTTP 500, given up after ${MAX_DELIVERY_ATTEMPTS} attempts` });
    expect(d.log).toHaveLength(MAX_DELIVERY_ATTEMPTS);
    expect(listener.hits.filter((h) => h.path === '/status/500' && h.query.get('cid') === v.clickId)).toHaveLength(MAX_DELIVERY_ATTEMPTS);
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
      const ids = await conversionsForwardedTo(allowed, targets);
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
