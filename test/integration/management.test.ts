// The management API end to end: create/read/update/archive of every entity, each input
// error as a 400 naming the field, ETag / If-Match, and campaign changes reaching /click's cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { campaigns, offers } from '../../src/db/schema.js';
import { authHeaders, BACKENDS, setupTestApp } from '../helpers/test-app.js';

type Json = Record<string, any>;

describe.each(BACKENDS)('management API on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await t.app.inject({ method, url, payload: payload as never, headers: { ...authHeaders(), ...headers } });
    return { status: res.statusCode, body: res.body ? (res.json() as Json) : {}, etag: res.headers.etag as string | undefined };
  };
  const created = async (url: string, payload: unknown): Promise<Json> => {
    const res = await call('POST', url, payload);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  /** Expects a 400 whose `field` is exactly `field`. */
  const rejects = async (method: 'POST' | 'PATCH', url: string, payload: unknown, field: string) => {
    const res = await call(method, url, payload);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toBeTruthy();
    return res.body;
  };

  let ts: Json;
  let network: Json;
  let offerA: Json;
  let offerB: Json;
  let lander: Json;

  beforeAll(async () => {
    t = await setupTestApp(backend);
    ts = await created('/api/traffic-sources', { name: 'FB main', preset: 'facebook' });
    network = await created('/api/affiliate-networks', { name: 'Tune net', preset: 'tune' });
    offerA = await created('/api/offers', { name: 'Offer A', url: 'https://offer.example/a?click={clickid}&c={country}', payout: '12.50', affiliateNetworkId: network.id });
    offerB = await created('/api/offers', { name: 'Offer B', url: 'https://offer.example/b?s={var:sub1}', payout: 3 });
    lander = await created('/api/landers', { name: 'Quiz', url: 'https://lp.example/quiz?cid={clickid}', offerCount: 2 });
  });
  afterAll(async () => t?.close());

  describe('traffic sources', () => {
    it('creates from a preset, reads with an ETag, updates, lists and archives', async () => {
      expect(ts).toMatchObject({ name: 'FB main', preset: 'facebook', status: 'active', version: 1, postbackStatuses: ['approved'] });
      expect(ts.params).toContainEqual({ name: 'campaign_id', token: '{{campaign.id}}', role: 'campaign' });
      expect(ts.params).toContainEqual({ name: 'fbclid', token: '', role: 'externalId' });
      expect(Date.parse(ts.createdAt)).not.toBeNaN();

      const custom = await created('/api/traffic-sources', {
        name: 'Custom push',
        params: [
          { name: 'zone', token: '[ZONE]', role: 'placement' },
          { name: 'cid', token: '[CLICK]', role: 'externalId' },
        ],
        postbackUrl: 'https://push.example/pb?click={externalid}&sum={payout}',
        postbackStatuses: ['approved', 'pending'],
      });
      const got = await call('GET', `/api/traffic-sources/${custom.id}`);
      expect(got.status).toBe(200);
      expect(got.etag).toBe(`"traffic-source-${custom.id}-v1"`);
      expect(got.body.postbackUrl).toBe('https://push.example/pb?click={externalid}&sum={payout}');

      const patched = await call('PATCH', `/api/traffic-sources/${custom.id}`, { name: 'Custom push 2', postbackUrl: null }, { 'if-match': got.etag! });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: 'Custom push 2', postbackUrl: null, version: 2 });
      expect(patched.body.params).toHaveLength(2);
      expect(patched.etag).toBe(`"traffic-source-${custom.id}-v2"`);

      const list = await call('GET', '/api/traffic-sources?name=PUSH');
      expect(list.body).toMatchObject({ total: 1, page: 1, pageSize: 50 });
      expect(list.body.items[0].id).toBe(custom.id);

      const del = await call('DELETE', `/api/traffic-sources/${custom.id}`);
      expect(del.status).toBe(200);
      expect(del.body).toMatchObject({ status: 'archived', version: 3 });
      expect((await call('GET', '/api/traffic-sources?name=push')).body.total).toBe(0);
      expect((await call('GET', '/api/traffic-sources?name=push&status=archived')).body.items[0].id).toBe(custom.id);
      expect((await call('GET', '/api/traffic-sources?status=all')).body.total).toBeGreaterThanOrEqual(2);
      // Archiving is never a hard delete: the row is still readable.
      expect((await call('GET', `/api/traffic-sources/${custom.id}`)).body.status).toBe('archived');
    });

    it('rejects bad traffic sources with the field named', async () => {
      await rejects('POST', '/api/traffic-sources', { name: 'x', preset: 'myspace' }, 'preset');
      await rejects(
        'POST',
        '/api/traffic-sources',
        { name: 'x', params: [{ name: 'a', token: '{a}', role: 'custom' }, { name: 'a', token: '{b}', role: 'custom' }] },
        'params[1].name',
      );
      await rejects('POST', '/api/traffic-sources', { name: 'x', params: [{ name: 'a', token: '{a}', role: 'keyword' }] }, 'params[0].role');
      await rejects('POST', '/api/traffic-sources', { name: 'x', params: [{ name: 'a b', token: '{a}', role: 'custom' }] }, 'params[0].name');
      await rejects('POST', '/api/traffic-sources', { name: 'x', postbackUrl: 'ftp://push.example/pb' }, 'postbackUrl');
      await rejects('POST', '/api/traffic-sources', { name: 'x', postbackUrl: 'https://push.example/pb?c={clikid}' }, 'postbackUrl');
      await rejects('POST', '/api/traffic-sources', { name: '' }, 'name');
      await rejects('PATCH', `/api/traffic-sources/${ts.id}`, { postbackStatuses: ['won'] }, 'postbackStatuses[0]');
    });

    it('takes a parameter without a role as a custom one (a plain value for var:NAME), as most of a custom source is', async () => {
      const custom = await created('/api/traffic-sources', {
        name: 'Pop network',
        params: [
          { name: 'sub1', token: '{sub1}' },
          { name: 'zone', token: '{zone}', role: 'placement' },
        ],
      });
      expect(custom.params).toEqual([
        { name: 'sub1', token: '{sub1}', role: 'custom' },
        { name: 'zone', token: '{zone}', role: 'placement' },
      ]);
    });
  });

  describe('affiliate networks', () => {
    it('builds the postback URL from the preset and the secret', async () => {
      expect(network.postbackUrl).toBe('http://track.test/postback?cid={aff_sub}&payout={payout}&txid={transaction_id}');
      const secured = await created('/api/affiliate-networks', {
        name: 'Cake net',
        preset: 'cake',
        postbackSecret: 's3cret-value',
        allowedIps: ['203.0.113.0/24', '198.51.100.7'],
        statusMap: { '1': 'approved', '2': 'declined' },
      });
      expect(secured.postbackUrl).toBe('http://track.test/postback?cid=#s2#&payout=#price#&txid=#tid#&secret=s3cret-value');
      expect(secured.allowedIps).toEqual(['203.0.113.0/24', '198.51.100.7/32']);
      expect(secured.statusMap).toEqual({ '1': 'approved', '2': 'declined' });

      const manual = await created('/api/affiliate-networks', { name: 'Manual', clickIdToken: '{subid}', payoutToken: '{amount}' });
      expect(manual.postbackUrl).toBe('http://track.test/postback?cid={subid}&payout={amount}');
      const patched = await call('PATCH', `/api/affiliate-networks/${manual.id}`, { clickIdToken: '{sub2}', txidToken: '{conv}' });
      expect(patched.body.postbackUrl).toBe('http://track.test/postback?cid={sub2}&payout={amount}&txid={conv}');
      const archived = await call('DELETE', `/api/affiliate-networks/${manual.id}`);
      expect(archived.body.status).toBe('archived');
      // An archived network cannot be given to a new offer.
      await rejects('POST', '/api/offers', { name: 'o', url: 'https://o.example/', affiliateNetworkId: manual.id }, 'affiliateNetworkId');
    });

    it('rejects bad networks with the field named', async () => {
      await rejects('POST', '/api/affiliate-networks', { name: 'x', clickIdToken: '{s}', allowedIps: ['10.0.0.0/8', '300.1.1.1/8'] }, 'allowedIps[1]');
      await rejects('POST', '/api/affiliate-networks', { name: 'x' }, 'clickIdToken');
      await rejects('POST', '/api/affiliate-networks', { name: 'x', preset: 'nope' }, 'preset');
      await rejects('POST', '/api/affiliate-networks', { name: 'x', clickIdToken: '{s}', statusMap: { ok: 'paid' } }, 'statusMap.ok');
      await rejects('POST', '/api/affiliate-networks', { name: 'x', clickIdToken: '{s}', postbackSecret: 'short' }, 'postbackSecret');
    });
  });

  describe('offers and landers', () => {
    it('stores payouts as exact decimals and defaults the currency', async () => {
      expect(offerA).toMatchObject({ payout: '12.5', currency: 'USD', attributionWindowDays: 30, affiliateNetworkId: network.id });
      expect(offerB.payout).toBe('3');
      const [row] = await t.app.ctx.db.select().from(offers).where(eq(offers.id, offerA.id));
      expect(row.payout).toBe('12.500000');
      const eur = await created('/api/offers', { name: 'EUR', url: 'http://o.example/', payout: '0.000001', currency: 'eur', attributionWindowDays: 7 });
      expect(eur).toMatchObject({ payout: '0.000001', currency: 'EUR', attributionWindowDays: 7 });
      const patched = await call('PATCH', `/api/offers/${eur.id}`, { payout: 99.99, affiliateNetworkId: network.id });
      expect(patched.body).toMatchObject({ payout: '99.99', affiliateNetworkId: network.id, version: 2 });
      const archived = await call('DELETE', `/api/offers/${eur.id}`);
      expect(archived.body.status).toBe('archived');
    });

    it('rejects bad offer URLs, payouts, currencies and references', async () => {
      const o = (extra: Json) => ({ name: 'o', url: 'https://o.example/', ...extra });
      for (const url of ['javascript:alert(1)', 'data:text/html,hi', 'ftp://o.example/file', '/relative/path', 'o.example/no-scheme']) {
        await rejects('POST', '/api/offers', o({ url }), 'url');
      }
      const unknown = await rejects('POST', '/api/offers', o({ url: 'https://o.example/?c={clickidd}' }), 'url');
      expect(unknown.error.message).toContain('{clickidd}');
      for (const payout of ['-1', -1, '1.2.3', 'ten', '1e3', 0.1 + 0.2, '1234567890123']) {
        await rejects('POST', '/api/offers', o({ payout }), 'payout');
      }
      for (const currency of ['US', 'XYZ', 'dollars', '123']) await rejects('POST', '/api/offers', o({ currency }), 'currency');
      await rejects('POST', '/api/offers', o({ affiliateNetworkId: 999999 }), 'affiliateNetworkId');
      await rejects('POST', '/api/offers', o({ attributionWindowDays: 0 }), 'attributionWindowDays');
      await rejects('PATCH', `/api/offers/${offerA.id}`, { url: 'javascript:void(0)' }, 'url');
      await rejects('PATCH', `/api/offers/${offerA.id}`, { colour: 'red' }, 'colour');
      // Not a string or number at all: the same message as a malformed amount, not zod's bare "Invalid input".
      for (const payout of [null, true, { amount: 1 }]) {
        const bad = await rejects('PATCH', `/api/offers/${offerA.id}`, { payout }, 'payout');
        expect(bad.error.message).toBe('payout: expected a non-negative decimal amount such as "12.50" (up to 12 digits and 6 decimals)');
      }
    });

    it('creates, updates and archives landers', async () => {
      expect(lander).toMatchObject({ offerCount: 2, status: 'active', version: 1 });
      const l = await created('/api/landers', { name: 'Single', url: 'https://lp.example/{country}/p' });
      expect(l.offerCount).toBe(1);
      // The links to put on the lander's buttons, as the builder copies them.
      expect(l.ctaUrls).toEqual(['http://track.test/cta']);
      const p = await call('PATCH', `/api/landers/${l.id}`, { offerCount: 3, name: 'Triple' });
      expect(p.body).toMatchObject({ offerCount: 3, name: 'Triple', version: 2 });
      expect(p.body.ctaUrls).toEqual(['http://track.test/cta/1', 'http://track.test/cta/2', 'http://track.test/cta/3']);
      expect((await call('GET', `/api/landers?name=triple`)).body.items[0].ctaUrls).toHaveLength(3);
      expect((await call('DELETE', `/api/landers/${l.id}`)).body.status).toBe('archived');
      await rejects('POST', '/api/landers', { name: 'l', url: 'https://lp.example/', offerCount: 0 }, 'offerCount');
      await rejects('POST', '/api/landers', { name: 'l', url: 'data:text/html,x' }, 'url');
      await rejects('POST', '/api/landers', { name: 'l', url: 'https://lp.example/{offer}' }, 'url');
    });
  });

  describe('api keys', () => {
    it('keeps a read-only key off the keys however the path is spelled', async () => {
      const made = await call('POST', '/api/api-keys', { name: 'optimiser tool', scope: 'read' });
      expect(made.status).toBe(201);
      const asReader = (method: 'GET' | 'DELETE', url: string) => t.app.inject({ method, url, headers: { 'api-key': made.body.key } });
      // Percent-encoded letters reach the same route as /api/api-keys.
      for (const url of ['/api/api-keys', '/api/%61pi-keys', '/api/api-key%73']) {
        const res = await asReader('GET', url);
        expect(res.statusCode, url).toBe(403);
        expect(res.body, url).not.toContain('optimiser tool');
      }
      expect((await asReader('GET', '/api/campaigns')).statusCode).toBe(200);
    });

    it('never shows a read-only key the postback secret, which would let it forge conversions', async () => {
      const secured = await created('/api/affiliate-networks', { name: 'Secret net', preset: 'tune', postbackSecret: 'read-key-must-not-see' });
      const made = await call('POST', '/api/api-keys', { name: 'dashboard', scope: 'read' });
      const asReader = (url: string) => t.app.inject({ url, headers: { 'api-key': made.body.key } });
      for (const url of [`/api/affiliate-networks/${secured.id}`, '/api/affiliate-networks?pageSize=100']) {
        const res = await asReader(url);
        expect(res.statusCode, url).toBe(200);
        expect(res.body, url).not.toContain('read-key-must-not-see');
      }
      const one = (await asReader(`/api/affiliate-networks/${secured.id}`)).json();
      expect(one.postbackSecret).toBeNull();
      expect(one.postbackUrl).toBe('http://track.test/postback?cid={aff_sub}&payout={payout}&txid={transaction_id}');
      // Admin keys (stored and bootstrap) still get it: the owner pastes it into the network.
      const admin = await call('POST', '/api/api-keys', { name: 'owner', scope: 'admin' });
      const asAdmin = await t.app.inject({ url: `/api/affiliate-networks/${secured.id}`, headers: { 'api-key': admin.body.key } });
      expect(asAdmin.json().postbackSecret).toBe('read-key-must-not-see');
      expect((await call('GET', `/api/affiliate-networks/${secured.id}`)).body.postbackUrl).toContain('&secret=read-key-must-not-see');
    });

    it('shows when each key was last used', async () => {
      const made = await call('POST', '/api/api-keys', { name: 'reporting bot', scope: 'read' });
      const listed = async () => ((await call('GET', '/api/api-keys')).body.items as Json[]).find((k) => k.id === made.body.id)!;
      expect((await listed()).lastUsedAt).toBeNull();
      const before = Date.now();
      expect((await t.app.inject({ url: '/api/campaigns', headers: { authorization: `Bearer ${made.body.key}` } })).statusCode).toBe(200);
      const used = (await listed()).lastUsedAt as string;
      expect(used).not.toBeNull();
      expect(Date.parse(used)).toBeGreaterThanOrEqual(before - 1000);
    });

    it('refuses a key request with an unknown field rather than make an admin key of it', async () => {
      const before = ((await call('GET', '/api/api-keys')).body.items as Json[]).length;
      const res = await call('POST', '/api/api-keys', { name: 'tool', readOnly: true });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('readOnly');
      expect(((await call('GET', '/api/api-keys')).body.items as Json[]).length).toBe(before);
    });

    it('answers an out-of-range key id with a 400 naming id', async () => {
      const res = await call('DELETE', '/api/api-keys/99999999999');
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('id');
      expect((await call('DELETE', '/api/api-keys/999999')).status).toBe(404);
    });
  });

  describe('campaigns', () => {
    const flow = () => ({
      rules: [{ name: 'US mobile', when: { country: ['us'], device: ['mobile'] }, paths: [{ offers: [{ id: offerB.id }] }] }],
      paths: [
        { name: 'lp', weight: 3, landers: [{ id: lander.id }], offers: [{ id: offerA.id, weight: 2 }, { id: offerB.id }] },
        { name: 'direct', offers: [{ id: offerA.id }] },
      ],
    });

    it('creates a campaign with a generated key, tracking URL and CTA URL, and serves it', async () => {
      const c = await created('/api/campaigns', { name: 'FB US', trafficSourceId: ts.id, cost: { model: 'cpc', value: '0.05' }, flow: flow() });
      expect(c.key).toMatch(/^[0-9A-Za-z]{8}$/);
      expect(c).toMatchObject({ status: 'active', redirectMode: '302', forwardPostbacks: true, cost: { model: 'cpc', value: '0.05' }, fallbackUrl: null });
      expect(c.flow.rules[0].when.country).toEqual(['US']);
      expect(c.trackingUrl).toBe(
        `http://track.test/click/${c.key}?campaign_id={{campaign.id}}&adset_id={{adset.id}}&ad_id={{ad.id}}&placement={{placement}}&site_source={{site_source_name}}`,
      );
      expect(c.ctaUrl).toBe('http://track.test/cta');

      const served = t.app.ctx.campaigns.byKey(c.key);
      expect(served?.flow.paths[0].offers).toEqual([{ id: offerA.id, weight: 2 }, { id: offerB.id }]);
      expect(served?.offers.get(offerA.id)?.payout).toBe('12.500000');
      expect(served?.landers.get(lander.id)?.offerCount).toBe(2);
      expect(served?.costValue).toBe('0.050000');

      const withKey = await created('/api/campaigns', { name: 'Own key', key: 'summer-24', trafficSourceId: ts.id, flow: flow(), redirectMode: 'doubleMeta' });
      expect(withKey).toMatchObject({ key: 'summer-24', redirectMode: 'doubleMeta', cost: { model: 'none', value: null } });
      const dup = await call('POST', '/api/campaigns', { name: 'Dup', key: 'summer-24', trafficSourceId: ts.id, flow: flow() });
      expect(dup.status).toBe(409);
      expect(dup.body.error.field).toBe('key');
    });

    it('answers every request about a campaign with an ip rule, its ranges trimmed and lower-cased (the answer goes through the input schema)', async () => {
      const ipFlow = { rules: [{ when: { ip: [' 203.0.113.7/24 ', '2001:DB8::/32'] }, paths: [{ offers: [{ id: offerB.id }] }] }], paths: [{ offers: [{ id: offerA.id }] }] };
      const c = await created('/api/campaigns', { name: 'IP rule', trafficSourceId: ts.id, flow: ipFlow });
      expect(c.flow.rules[0].when.ip).toEqual(['203.0.113.7/24', '2001:db8::/32']);
      const got = await call('GET', `/api/campaigns/${c.id}`);
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      expect(got.body.flow.rules[0].when.ip).toEqual(['203.0.113.7/24', '2001:db8::/32']);
      const list = await call('GET', '/api/campaigns?pageSize=100');
      expect(list.status, JSON.stringify(list.body)).toBe(200);
      expect(list.body.items.some((x: Json) => x.id === c.id)).toBe(true);
      const patched = await call('PATCH', `/api/campaigns/${c.id}`, { name: 'IP rule 2' });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      const clone = await call('POST', `/api/campaigns/${c.id}/clone`, {});
      expect(clone.status, JSON.stringify(clone.body)).toBe(201);
      expect(clone.body.flow.rules[0].when.ip).toEqual(['203.0.113.7/24', '2001:db8::/32']);
      expect((await call('DELETE', `/api/campaigns/${c.id}`)).status).toBe(200);
      await rejects('POST', '/api/campaigns', { name: 'Bad IP', trafficSourceId: ts.id, flow: { ...ipFlow, rules: [{ when: { ip: ['300.1.1.1'] }, paths: [{ offers: [{ id: offerB.id }] }] }] } }, 'flow.rules[0].when.ip[0]');
    });

    it('clones a campaign with its flow, cost and settings under a new key', async () => {
      const original = await created('/api/campaigns', { name: 'FB DE', trafficSourceId: ts.id, cost: { model: 'cpm', value: '2' }, flow: flow(), redirectMode: 'meta', fallbackUrl: 'https://fallback.example/' });
      const copy = await call('POST', `/api/campaigns/${original.id}/clone`, {});
      expect(copy.status).toBe(201);
      expect(copy.body).toMatchObject({ name: 'FB DE (copy)', status: 'active', cost: { model: 'cpm', value: '2' }, redirectMode: 'meta', fallbackUrl: 'https://fallback.example/', flow: original.flow });
      expect(copy.body.id).not.toBe(original.id);
      expect(copy.body.key).not.toBe(original.key);
      expect(copy.body.trackingUrl).toContain(`/click/${copy.body.key}?`);
      expect(t.app.ctx.campaigns.byKey(copy.body.key)?.flow).toEqual(t.app.ctx.campaigns.byKey(original.key)?.flow);

      const named = await call('POST', `/api/campaigns/${original.id}/clone`, { name: 'FB AT', key: 'fb-at' });
      expect(named.body).toMatchObject({ name: 'FB AT', key: 'fb-at' });
      expect((await call('POST', `/api/campaigns/${original.id}/clone`, { key: 'fb-at' })).status).toBe(409);
      expect((await call('POST', '/api/campaigns/999999/clone', {})).status).toBe(404);
      // The body is optional: a bare POST (no body, no content type) clones with the defaults.
      const bare = await t.app.inject({ method: 'POST', url: `/api/campaigns/${original.id}/clone`, headers: authHeaders() });
      expect(bare.statusCode, bare.body).toBe(201);
      expect(bare.json()).toMatchObject({ name: 'FB DE (copy)', flow: original.flow, cost: { model: 'cpm', value: '2' } });
      const badSource = await call('POST', `/api/campaigns/${original.id}/clone`, { trafficSourceId: 999999 });
      expect(badSource.status).toBe(400);
      expect(badSource.body.error.field).toBe('trafficSourceId');
    });

    it('clones a campaign whose offer and lander were archived since (they keep serving it), but adds no new archived one', async () => {
      const old = await created('/api/offers', { name: 'Retired offer', url: 'https://retired.example/?c={clickid}' });
      const oldLander = await created('/api/landers', { name: 'Retired lander', url: 'https://retired-lp.example/' });
      const original = await created('/api/campaigns', {
        name: 'Running',
        trafficSourceId: ts.id,
        flow: { paths: [{ landers: [{ id: oldLander.id }], offers: [{ id: old.id }] }] },
      });
      expect((await call('DELETE', `/api/offers/${old.id}`)).body.status).toBe('archived');
      expect((await call('DELETE', `/api/landers/${oldLander.id}`)).body.status).toBe('archived');
      const copy = await call('POST', `/api/campaigns/${original.id}/clone`, { name: 'Running, new geo' });
      expect(copy.status, JSON.stringify(copy.body)).toBe(201);
      expect(copy.body.flow).toEqual(original.flow);
      expect(t.app.ctx.campaigns.byKey(copy.body.key)?.offers.get(old.id)?.url).toBe('https://retired.example/?c={clickid}');
      // A traffic source of its own that is archived is still refused.
      const gone = await created('/api/traffic-sources', { name: 'Gone source' });
      await call('DELETE', `/api/traffic-sources/${gone.id}`);
      const toGone = await call('POST', `/api/campaigns/${original.id}/clone`, { trafficSourceId: gone.id });
      expect(toGone.status).toBe(400);
      expect(toGone.body.error.field).toBe('trafficSourceId');
    });

    it('updates with If-Match, refuses a stale ETag with 412, and lets the last write win without one', async () => {
      const c = await created('/api/campaigns', { name: 'Edit me', trafficSourceId: ts.id, flow: flow() });
      const read = await call('GET', `/api/campaigns/${c.id}`);
      expect(read.etag).toBe(`"campaign-${c.id}-v1"`);

      const first = await call('PATCH', `/api/campaigns/${c.id}`, { name: 'Edited by Ann' }, { 'if-match': read.etag! });
      expect(first.status).toBe(200);
      expect(first.body.version).toBe(2);

      // Bob read version 1 too; his write must not silently replace Ann's.
      const stale = await call('PATCH', `/api/campaigns/${c.id}`, { name: 'Edited by Bob' }, { 'if-match': read.etag! });
      expect(stale.status).toBe(412);
      expect(stale.body.error.code).toBe('precondition_failed');
      expect((await call('GET', `/api/campaigns/${c.id}`)).body.name).toBe('Edited by Ann');
      expect((await call('DELETE', `/api/campaigns/${c.id}`, undefined, { 'if-match': read.etag! })).status).toBe(412);

      const weak = await call('PATCH', `/api/campaigns/${c.id}`, { status: 'paused', fallbackUrl: 'https://safe.example/' }, { 'if-match': `W/${first.etag}` });
      expect(weak.status).toBe(200);
      const blind = await call('PATCH', `/api/campaigns/${c.id}`, { cost: { model: 'revshare', value: 40 } });
      expect(blind.status).toBe(200);
      expect(blind.body).toMatchObject({ version: 4, status: 'paused', cost: { model: 'revshare', value: '40' }, fallbackUrl: 'https://safe.example/' });
      expect(t.app.ctx.campaigns.byKey(c.key)?.status).toBe('paused');
    });

    it('applies a new flow to the cache and stops serving an archived campaign', async () => {
      const c = await created('/api/campaigns', { name: 'Flow swap', trafficSourceId: ts.id, flow: flow() });
      const swapped = await call('PATCH', `/api/campaigns/${c.id}`, { flow: { paths: [{ offers: [{ id: offerB.id }] }] } });
      expect(swapped.status).toBe(200);
      expect(swapped.body.flow).toEqual({ rules: [], paths: [{ offers: [{ id: offerB.id }] }] });
      expect(t.app.ctx.campaigns.byKey(c.key)?.flow.paths).toEqual([{ offers: [{ id: offerB.id }] }]);

      const del = await call('DELETE', `/api/campaigns/${c.id}`);
      expect(del.body.status).toBe('archived');
      expect(t.app.ctx.campaigns.byKey(c.key)).toBeUndefined();
      const [row] = await t.app.ctx.db.select().from(campaigns).where(eq(campaigns.id, c.id));
      expect(row.status).toBe('archived');
      // Archiving twice changes nothing.
      expect((await call('DELETE', `/api/campaigns/${c.id}`)).body.version).toBe(del.body.version);
    });

    it('rejects bad campaigns with the field named', async () => {
      const base = () => ({ name: 'Bad', trafficSourceId: ts.id, flow: flow() });
      const withFlow = (f: Json) => ({ ...base(), flow: f });
      await rejects('POST', '/api/campaigns', withFlow({ paths: [] }), 'flow.paths');
      await rejects('POST', '/api/campaigns', { name: 'Bad', trafficSourceId: ts.id }, 'flow');
      await rejects('POST', '/api/campaigns', withFlow({ paths: [{ offers: [] }] }), 'flow.paths[0].offers');
      await rejects('POST', '/api/campaigns', withFlow({ paths: [{ offers: [{ id: offerA.id, weight: 0 }] }] }), 'flow.paths[0].offers[0].weight');
      await rejects('POST', '/api/campaigns', withFlow({ paths: [{ weight: -2, offers: [{ id: offerA.id }] }] }), 'flow.paths[0].weight');
      await rejects('POST', '/api/campaigns', withFlow({ paths: [{ offers: [{ id: offerA.id }, { id: 987654 }] }] }), 'flow.paths[0].offers[1].id');
      await rejects(
        'POST',
        '/api/campaigns',
        withFlow({ rules: [{ when: { country: ['US'] }, paths: [{ landers: [{ id: 987654 }], offers: [{ id: offerA.id }] }] }], paths: [{ offers: [{ id: offerA.id }] }] }),
        'flow.rules[0].paths[0].landers[0].id',
      );
      await rejects('POST', '/api/campaigns', withFlow({ rules: [{ when: { country: ['USA'] }, paths: [{ offers: [{ id: offerA.id }] }] }], paths: flow().paths }), 'flow.rules[0].when.country[0]');
      await rejects('POST', '/api/campaigns', withFlow({ rules: [{ when: {}, paths: [{ offers: [{ id: offerA.id }] }] }], paths: flow().paths }), 'flow.rules[0].when');
      await rejects('POST', '/api/campaigns', { ...base(), trafficSourceId: 424242 }, 'trafficSourceId');
      await rejects('POST', '/api/campaigns', { ...base(), cost: { model: 'cpc' } }, 'cost.value');
      await rejects('POST', '/api/campaigns', { ...base(), cost: { model: 'revshare', value: '150' } }, 'cost.value');
      await rejects('POST', '/api/campaigns', { ...base(), cost: { model: 'cpc', value: '-0.1' } }, 'cost.value');
      await rejects('POST', '/api/campaigns', { ...base(), cost: { model: 'barter' } }, 'cost.model');
      await rejects('POST', '/api/campaigns', { ...base(), redirectMode: '301' }, 'redirectMode');
      await rejects('POST', '/api/campaigns', { ...base(), fallbackUrl: 'javascript:alert(1)' }, 'fallbackUrl');
      await rejects('POST', '/api/campaigns', { ...base(), key: 'has space' }, 'key');
      await rejects('POST', '/api/campaigns', { ...base(), status: 'archived' }, 'status');

      // Archived offers and traffic sources cannot be newly referenced.
      const gone = await created('/api/offers', { name: 'Gone', url: 'https://o.example/gone' });
      await call('DELETE', `/api/offers/${gone.id}`);
      await rejects('POST', '/api/campaigns', withFlow({ paths: [{ offers: [{ id: offerA.id }, { id: gone.id }] }] }), 'flow.paths[0].offers[1].id');
      const oldTs = await created('/api/traffic-sources', { name: 'Old', preset: 'google' });
      await call('DELETE', `/api/traffic-sources/${oldTs.id}`);
      await rejects('POST', '/api/campaigns', { ...base(), trafficSourceId: oldTs.id }, 'trafficSourceId');
    });

    it('keeps serving an offer archived after it was put in a flow, and allows editing around it', async () => {
      const later = await created('/api/offers', { name: 'Later archived', url: 'https://o.example/later' });
      const c = await created('/api/campaigns', { name: 'Keeps it', trafficSourceId: ts.id, flow: { paths: [{ offers: [{ id: later.id }] }] } });
      await call('DELETE', `/api/offers/${later.id}`);
      const edit = await call('PATCH', `/api/campaigns/${c.id}`, { flow: { paths: [{ offers: [{ id: later.id, weight: 2 }, { id: offerA.id }] }] } });
      expect(edit.status).toBe(200);
      expect(t.app.ctx.campaigns.byKey(c.key)?.offers.has(later.id)).toBe(true);
    });

    it('answers 404 for unknown ids, 400 for malformed ones, 401 without a key', async () => {
      expect((await call('GET', '/api/campaigns/99999')).status).toBe(404);
      expect((await call('PATCH', '/api/offers/99999', { name: 'x' })).status).toBe(404);
      expect((await call('DELETE', '/api/landers/99999')).status).toBe(404);
      const bad = await call('GET', '/api/campaigns/abc');
      expect(bad.status).toBe(400);
      expect(bad.body.error.field).toBe('id');
      expect((await call('GET', '/api/campaigns?pageSize=0')).body.error.field).toBe('pageSize');
      // A filter the list does not have is refused, not answered with every campaign.
      const unknownFilter = await call('GET', '/api/campaigns?traffic_source=1');
      expect(unknownFilter.status).toBe(400);
      expect(unknownFilter.body.error.field).toBe('traffic_source');
      const otherEntity = await call('GET', '/api/landers?trafficSourceId=1');
      expect(otherEntity.status).toBe(400);
      expect(otherEntity.body.error.field).toBe('trafficSourceId');
      expect((await t.app.inject({ method: 'GET', url: '/api/campaigns' })).statusCode).toBe(401);
    });

    it("lists one traffic source's campaigns and one network's offers", async () => {
      const tiktok = await created('/api/traffic-sources', { name: 'TikTok', preset: 'tiktok' });
      const live = await created('/api/campaigns', { name: 'TT live', trafficSourceId: tiktok.id, flow: flow() });
      const old = await created('/api/campaigns', { name: 'TT old', trafficSourceId: tiktok.id, flow: flow() });
      await call('DELETE', `/api/campaigns/${old.id}`);
      const list = await call('GET', `/api/campaigns?trafficSourceId=${tiktok.id}`);
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ total: 1, page: 1 });
      expect(list.body.items.map((c: Json) => c.id)).toEqual([live.id]);
      const all = await call('GET', `/api/campaigns?trafficSourceId=${tiktok.id}&status=all&name=tt`);
      expect(all.body.items.map((c: Json) => c.id)).toEqual([old.id, live.id]);
      expect((await call('GET', '/api/campaigns?trafficSourceId=424242')).body).toMatchObject({ items: [], total: 0 });
      expect((await call('GET', '/api/campaigns?trafficSourceId=abc')).body.error.field).toBe('trafficSourceId');

      const everflow = await created('/api/affiliate-networks', { name: 'Everflow', preset: 'everflow' });
      const ef = await created('/api/offers', { name: 'EF offer', url: 'https://o.example/ef', affiliateNetworkId: everflow.id });
      const offersOf = await call('GET', `/api/offers?affiliateNetworkId=${everflow.id}`);
      expect(offersOf.body).toMatchObject({ total: 1 });
      expect(offersOf.body.items.map((o: Json) => o.id)).toEqual([ef.id]);
    });

    it("says why a campaign's key cannot be changed", async () => {
      const c = await created('/api/campaigns', { name: 'Keyed', trafficSourceId: ts.id, flow: flow() });
      const res = await rejects('PATCH', `/api/campaigns/${c.id}`, { key: 'newkey' }, 'key');
      expect(res.error.message).toBe("key: a campaign's key never changes (it is in the links your ads carry); clone the campaign for a new key");
      // Other unknown fields keep the plain message.
      expect((await rejects('PATCH', `/api/campaigns/${c.id}`, { colour: 'red' }, 'colour')).error.message).toBe('colour: Unrecognized key: "colour"');
    });

    it('pages through campaigns', async () => {
      const all = await call('GET', '/api/campaigns?pageSize=2');
      expect(all.body.items).toHaveLength(2);
      expect(all.body.total).toBeGreaterThan(2);
      const second = await call('GET', '/api/campaigns?pageSize=2&page=2');
      expect(second.body.items[0].id).toBeLessThan(all.body.items[1].id);
      for (const item of all.body.items) expect(item.trackingUrl).toContain(`/click/${item.key}`);
    });
  });
});
