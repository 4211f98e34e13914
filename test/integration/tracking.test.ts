// /click and /cta through the app, on real Postgres + Redis and on the embedded backend.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landerClicks, visits } from '../../src/db/schema.js';
import { CLICK_ID_RE } from '../../src/tracking/click-id.js';
import { localDayHour } from '../../src/tracking/flow.js';
import { readStoredVisit } from '../../src/tracking/stored-visit.js';
import { BACKENDS, buildTestApp, setupTestApp, authHeaders } from '../helpers/test-app.js';
import { seedCampaign, seedDirectCampaign, seedLander, seedOffer, seedTrafficSource } from '../helpers/seed.js';

const CHROME_WIN = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
const ANDROID = 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const US_IP = '8.8.8.8';
const DE_IP = '81.169.145.1';
const RU_IP = '77.88.8.8';

const cookieValue = (setCookie: string | string[] | undefined, name: string) => {
  const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  return list.find((c) => c.startsWith(`${name}=`))?.split(';')[0].slice(name.length + 1);
};

describe.each(BACKENDS)('tracking on %s', (backend) => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  const click = (url: string, opts: { ip?: string; ua?: string; headers?: Record<string, string>; remote?: string; method?: 'GET' | 'HEAD' } = {}) =>
    t.app.inject({
      method: opts.method ?? 'GET',
      url,
      remoteAddress: opts.remote ?? '127.0.0.1',
      headers: { 'user-agent': opts.ua ?? CHROME_WIN, ...(opts.ip ? { 'x-forwarded-for': opts.ip } : {}), ...opts.headers },
    });
  const flush = () => t.app.ctx.clickWriter!.flush();
  const visitRow = async (clickId: string) => {
    await flush();
    // Read back whole (role parameters and the user agent are stored apart; see stored-visit.ts).
    const row = (await readStoredVisit(t.app.ctx.db, clickId))!;
    return row;
  };

  beforeAll(async () => {
    t = await setupTestApp(backend, { env: { TRUST_PROXY: '127.0.0.1', CLICK_FLUSH_MS: '50', UNIQUE_WINDOW_HOURS: '24' } });
  });
  afterAll(async () => t?.close());

  it('redirects a direct path with the exact Location and Set-Cookie', async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'zone', token: '{zoneid}', role: 'placement' },
        { name: 'cid', token: '{clickid}', role: 'externalId' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/go?sub1={clickid}&geo={country}&ext={externalid}&z={var:zone}', attributionWindowDays: 7 });
    await seedCampaign(t.app.ctx, { key: 'direct1', trafficSourceId: ts.id, flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });

    const res = await click('/click/direct1?zone=77&cid=ext-1', { ip: US_IP });
    expect(res.statusCode).toBe(302);
    const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
    expect(clickId).toMatch(/^[0-9A-Za-z]{19}$/);
    expect(res.headers.location).toBe(`https://offer.example/go?sub1=${clickId}&geo=US&ext=ext-1&z=77`);
    const visitor = cookieValue(res.headers['set-cookie'], 'tlvid')!;
    expect(res.headers['set-cookie']).toEqual([
      `tlcid=${clickId}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`,
      `tlvid=${visitor}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax`,
    ]);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('sends a lander path to the lander, then /cta to the offer by cookie and by ?cid=', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?s={clickid}&l={lander.id}&o={offer.id}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp/{campaign.id}?cid={clickid}' });
    const campaign = await seedCampaign(t.app.ctx, {
      key: 'lander1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: offer.id }] }] },
    });
    const res = await click('/click/lander1');
    expect(res.statusCode).toBe(302);
    const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
    expect(res.headers.location).toBe(`https://lander.example/lp/${campaign.id}?cid=${clickId}`);
    expect(res.headers['set-cookie']).toContain(`tlcid=${clickId}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax`);

    const byCookie = await t.app.inject({ url: '/cta', cookies: { tlcid: clickId } });
    expect(byCookie.statusCode).toBe(302);
    expect(byCookie.headers.location).toBe(`https://offer.example/o?s=${clickId}&l=${lander.id}&o=${offer.id}`);

    await flush(); // the visit is in Postgres now: /cta?cid= must find it there or in Redis
    const byParam = await t.app.inject({ url: `/cta?cid=${clickId}` });
    expect(byParam.statusCode).toBe(302);
    expect(byParam.headers.location).toBe(`https://offer.example/o?s=${clickId}&l=${lander.id}&o=${offer.id}`);

    await flush();
    const rows = await t.app.ctx.db.select().from(landerClicks).where(eq(landerClicks.clickId, clickId));
    // Both click-throughs are slot 1 of the same visit: one row, so reports count one click.
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ slot: 1, offerId: offer.id, campaignId: campaign.id });
    const visit = await visitRow(clickId);
    expect(visit.landerId).toBe(lander.id);
    expect(visit.offerId).toBe(offer.id);
  });

  it('tracks a direct-linked lander through /visit: JSON with the click ID, the visit recorded, /cta?cid= on to the offer', async () => {
    const ts = await seedTrafficSource(t.app.ctx, { params: [{ name: 'adset_id', token: '{{adset.id}}', role: 'adset' }] });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?s={clickid}&a={var:adset_id}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp?cid={clickid}' });
    const campaign = await seedCampaign(t.app.ctx, {
      key: 'visit1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: offer.id }] }] },
    });
    const res = await t.app.inject({ url: '/visit/visit1?adset_id=A7&fbclid=F1', headers: { 'user-agent': CHROME_WIN, origin: 'https://lander.example' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['cache-control']).toBe('no-store');
    const { clickId, destination, ctaUrl } = res.json();
    expect(clickId).toMatch(CLICK_ID_RE);
    expect(destination).toBe(`https://lander.example/lp?cid=${clickId}`);
    expect(ctaUrl).toBe(`${t.app.ctx.config.PUBLIC_URL}/cta?cid=${clickId}`);
    expect(res.headers['set-cookie']).toContain(`tlcid=${clickId}; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax`);

    const cta = await t.app.inject({ url: new URL(ctaUrl).pathname + new URL(ctaUrl).search });
    expect(cta.statusCode).toBe(302);
    expect(cta.headers.location).toBe(`https://offer.example/o?s=${clickId}&a=A7`);
    await flush();
    expect(await visitRow(clickId)).toMatchObject({ campaignId: campaign.id, landerId: lander.id, offerId: offer.id, tsAdset: 'A7', browser: 'chrome' });

    const unknown = await t.app.inject({ url: '/visit/nosuchkey' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['access-control-allow-origin']).toBe('*');
    expect(unknown.json().error.code).toBe('not_found');
  });

  it('fills role parameters into the offer URL on /cta when the visit is read back from Postgres (hot record gone)', async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'adset_id', token: '{{adset.id}}', role: 'adset' },
        { name: 'gclid', token: '{gclid}', role: 'externalId' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?s={clickid}&a={var:adset_id}&g={var:gclid}&k={var:kw}&ext={externalid}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp' });
    await seedCampaign(t.app.ctx, {
      key: 'ctapg1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: offer.id }] }] },
    });
    const res = await click('/click/ctapg1?adset_id=A5&gclid=G7&kw=shoes');
    const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
    const expected = `https://offer.example/o?s=${clickId}&a=A5&g=G7&k=shoes&ext=G7`;
    await flush();
    // The hot record expired (or Redis lost it, or the embedded store restarted): Postgres answers.
    await t.app.ctx.store.del(`click:${clickId}`);
    const cta = await t.app.inject({ url: `/cta?cid=${clickId}` });
    expect(cta.statusCode).toBe(302);
    expect(cta.headers.location).toBe(expected);
  });

  it("keeps the traffic source's parameters past the 64-parameter bound (gclid appended to a long URL)", async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'campaignid', token: '{campaignid}', role: 'campaign' },
        { name: 'gclid', token: '{gclid}', role: 'externalId' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?ext={externalid}&g={var:gclid}&u69={var:utm_69}' });
    await seedCampaign(t.app.ctx, { key: 'longurl1', trafficSourceId: ts.id, flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });
    const many = Array.from({ length: 70 }, (_, i) => `utm_${i}=v${i}`).join('&');
    const res = await click(`/click/longurl1?campaignid=C1&${many}&gclid=LATE-GCLID`);
    expect(res.statusCode).toBe(302);
    // The bound still holds for everything else: utm_69 is the 71st parameter.
    expect(res.headers.location).toBe('https://offer.example/o?ext=LATE-GCLID&g=LATE-GCLID&u69=');
    const row = await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!);
    expect(row.externalId).toBe('LATE-GCLID');
    expect(row.tsCampaign).toBe('C1');
    expect(Object.keys(row.params)).toHaveLength(65);
    expect(row.params.gclid).toBe('LATE-GCLID');
  });

  it('stores an empty traffic-source parameter as no value, so reports do not show "" as a placement of its own', async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'placement', token: '{placement}', role: 'placement' },
        { name: 'site', token: '{site}', role: 'placement' },
        { name: 'ad_id', token: '{ad_id}', role: 'ad' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o' });
    await seedCampaign(t.app.ctx, { key: 'emptyrole1', trafficSourceId: ts.id, flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });
    const res = await click('/click/emptyrole1?placement=&site=news.example&ad_id=');
    const row = await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!);
    // The next parameter of the role fills it; a role nobody filled stays null.
    expect(row.tsPlacement).toBe('news.example');
    expect(row.tsAd).toBeNull();
    expect(row.params).toMatchObject({ placement: '', ad_id: '' });
  });

  it('answers a HEAD on /cta (a link checker) without recording a click-through or moving the visit to another offer', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const a = await seedOffer(t.app.ctx, { url: 'https://a.example/?c={clickid}' });
    const b = await seedOffer(t.app.ctx, { url: 'https://b.example/?c={clickid}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/two', offerCount: 2 });
    await seedCampaign(t.app.ctx, {
      key: 'ctahead1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: a.id }, { id: b.id, weight: 0 }] }] },
    });
    const clickId = cookieValue((await click('/click/ctahead1')).headers['set-cookie'], 'tlcid')!;
    await flush(); // out of the buffer: /cta reads the hot record, which a counted click-through would change
    const head = await t.app.inject({ method: 'HEAD', url: `/cta/2?cid=${clickId}` });
    expect(head.statusCode).toBe(302);
    expect(head.headers.location).toBe(`https://b.example/?c=${clickId}`);
    // Had the HEAD counted, slot 2 would have moved the visit's hot record to offer b.
    const cta = await t.app.inject({ url: `/cta?cid=${clickId}` });
    expect(cta.headers.location).toBe(`https://a.example/?c=${clickId}`);
    await flush();
    const rows = await t.app.ctx.db.select().from(landerClicks).where(eq(landerClicks.clickId, clickId));
    expect(rows.map((r) => [r.slot, r.offerId])).toEqual([[1, a.id]]);
  });

  it('fills the visitor tokens of /cta from the click-through request where the visit does not keep them', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?os={os}&osv={osversion}&br={browser}&brv={browserversion}&ip={ip}&geo={country}&dev={device}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp' });
    const flow = { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: offer.id }] }] };
    await seedCampaign(t.app.ctx, { key: 'ctatok1', trafficSourceId: ts.id, flow });
    const clickId = cookieValue((await click('/click/ctatok1', { ip: US_IP, ua: SAFARI_IPHONE })).headers['set-cookie'], 'tlcid')!;
    const cta = await t.app.inject({ url: `/cta?cid=${clickId}`, remoteAddress: '127.0.0.1', headers: { 'user-agent': SAFARI_IPHONE, 'x-forwarded-for': US_IP } });
    expect(cta.headers.location).toBe(`https://offer.example/o?os=ios&osv=17.1&br=mobile%20safari&brv=17.1&ip=${US_IP}&geo=US&dev=mobile`);
    // A click-through whose visit is unknown, sent to the campaign's default offer: what the request tells.
    const unknown = await t.app.inject({ url: '/cta?cid=nope&campaign=ctatok1', remoteAddress: '127.0.0.1', headers: { 'user-agent': ANDROID, 'x-forwarded-for': DE_IP } });
    expect(unknown.headers.location).toBe(`https://offer.example/o?os=android&osv=13&br=chrome&brv=119.0.0.0&ip=${DE_IP}&geo=DE&dev=mobile`);
  });

  it('sends /cta/:n to the nth offer of a multi-offer lander, and rejects a bad slot with a 400 naming it', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const a = await seedOffer(t.app.ctx, { url: 'https://a.example/?c={clickid}' });
    const b = await seedOffer(t.app.ctx, { url: 'https://b.example/?c={clickid}' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/two', offerCount: 2 });
    await seedCampaign(t.app.ctx, {
      key: 'multi1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ landers: [{ id: lander.id }], offers: [{ id: a.id }, { id: b.id, weight: 0 }] }] },
    });
    const res = await click('/click/multi1');
    const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
    const two = await t.app.inject({ url: `/cta/2?cid=${clickId}` });
    expect(two.headers.location).toBe(`https://b.example/?c=${clickId}`);
    const one = await t.app.inject({ url: `/cta/1?cid=${clickId}` });
    expect(one.headers.location).toBe(`https://a.example/?c=${clickId}`);
    const bad = await t.app.inject({ url: `/cta/zero?cid=${clickId}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('n');
    await flush();
    const rows = await t.app.ctx.db.select().from(landerClicks).where(eq(landerClicks.clickId, clickId));
    expect(rows.map((r) => [r.slot, r.offerId]).sort()).toEqual([
      [1, a.id],
      [2, b.id],
    ]);
  });

  it('answers /cta for an unknown click with 404, or the default offer when ?campaign= is given', async () => {
    await seedDirectCampaign(t.app.ctx, 'ctadefault', 'https://default.example/x?c={campaign.key}');
    const unknown = await t.app.inject({ url: '/cta?cid=000000000000000000000' });
    expect(unknown.statusCode).toBe(404);
    const noId = await t.app.inject({ url: '/cta' });
    expect(noId.statusCode).toBe(404);
    const withCampaign = await t.app.inject({ url: '/cta?cid=nope&campaign=ctadefault' });
    expect(withCampaign.statusCode).toBe(302);
    expect(withCampaign.headers.location).toBe('https://default.example/x?c=ctadefault');
  });

  it('404s an unknown or archived campaign with a short text body, and sends a paused one to its fallback', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/' });
    const flow = { rules: [], paths: [{ offers: [{ id: offer.id }] }] };
    await seedCampaign(t.app.ctx, { key: 'archived1', trafficSourceId: ts.id, flow, status: 'archived' });
    await seedCampaign(t.app.ctx, { key: 'paused1', trafficSourceId: ts.id, flow, status: 'paused', fallbackUrl: 'https://fallback.example/p' });
    await seedCampaign(t.app.ctx, { key: 'paused2', trafficSourceId: ts.id, flow, status: 'paused' });
    for (const key of ['nope', 'archived1', 'paused2']) {
      const res = await click(`/click/${key}`);
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.headers.location).toBeUndefined();
      expect(res.body.length).toBeLessThan(100);
    }
    const paused = await click('/click/paused1');
    expect(paused.statusCode).toBe(302);
    expect(paused.headers.location).toBe('https://fallback.example/p');
    // A click-through whose visit is unknown goes where /click would, never to a paused campaign's offer.
    expect((await t.app.inject({ url: '/cta?cid=nope&campaign=paused1' })).headers.location).toBe('https://fallback.example/p');
    expect((await t.app.inject({ url: '/cta?cid=nope&campaign=paused2' })).statusCode).toBe(404);
  });

  it("fills the tokens of a paused campaign's fallback URL with what the request tells (no click ID: no visit is recorded)", async () => {
    const ts = await seedTrafficSource(t.app.ctx, { params: [{ name: 'cid', token: '{clickid}', role: 'externalId' }] });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/' });
    const campaign = await seedCampaign(t.app.ctx, {
      key: 'pausedtok',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] },
      status: 'paused',
      fallbackUrl: 'https://fallback.example/{campaign.key}?c={campaign.id}&geo={country}&z={var:zone}&ext={externalid}&click={clickid}&o={offer.id}',
    });
    const res = await click('/click/pausedtok?zone=a%20b&cid=E1', { ip: US_IP });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`https://fallback.example/pausedtok?c=${campaign.id}&geo=US&z=a%20b&ext=E1&click=&o=`);
    expect(res.headers['set-cookie']).toBeUndefined();
    // A click-through of an unknown click to the paused campaign: the same URL with what /cta knows.
    const cta = await t.app.inject({ url: '/cta?cid=nope&campaign=pausedtok' });
    expect(cta.headers.location).toBe(`https://fallback.example/pausedtok?c=${campaign.id}&geo=&z=&ext=&click=&o=`);
  });

  describe('rules', () => {
    let ids: Record<string, number>;
    beforeAll(async () => {
      const ts = await seedTrafficSource(t.app.ctx);
      ids = {};
      for (const name of ['us', 'mobile', 'ios', 'zone', 'default']) {
        ids[name] = (await seedOffer(t.app.ctx, { name, url: `https://${name}.example/` })).id;
      }
      await seedCampaign(t.app.ctx, {
        key: 'rules1',
        trafficSourceId: ts.id,
        flow: {
          rules: [
            { when: { param: { zone: ['123'] } }, paths: [{ offers: [{ id: ids.zone }] }] },
            { when: { country: ['us'] }, paths: [{ offers: [{ id: ids.us }] }] },
            { when: { os: ['iOS'] }, paths: [{ offers: [{ id: ids.ios }] }] },
            { when: { device: ['mobile'] }, paths: [{ offers: [{ id: ids.mobile }] }] },
          ],
          paths: [{ offers: [{ id: ids.default }] }],
        },
      });
    });

    it('matches country from X-Forwarded-For sent by a trusted proxy', async () => {
      expect((await click('/click/rules1', { ip: US_IP })).headers.location).toBe('https://us.example/');
      expect((await click('/click/rules1', { ip: DE_IP })).headers.location).toBe('https://default.example/');
    });

    it('ignores X-Forwarded-For from anyone else', async () => {
      const res = await click('/click/rules1', { ip: US_IP, remote: RU_IP });
      expect(res.headers.location).toBe('https://default.example/');
      const visit = await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!);
      expect(visit.ip).toBe(RU_IP);
      expect(visit.country).toBe('RU');
    });

    it('reads the country of an IPv4 visitor seen as an IPv4-mapped address (a server listening on ::)', async () => {
      const res = await click('/click/rules1', { remote: `::ffff:${US_IP}` });
      expect(res.headers.location).toBe('https://us.example/');
      const visit = await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!);
      expect(visit.ip).toBe(US_IP);
      expect(visit.country).toBe('US');
      // The same visitor as behind a proxy: one fingerprint, so not unique twice.
      const proxied = await click('/click/rules1', { ip: US_IP });
      expect((await visitRow(cookieValue(proxied.headers['set-cookie'], 'tlcid')!)).isUnique).toBe(false);
    });

    it('matches a regional language rule (pt-br) on the first language of Accept-Language', async () => {
      const ts = await seedTrafficSource(t.app.ctx);
      await seedCampaign(t.app.ctx, {
        key: 'lang1',
        trafficSourceId: ts.id,
        flow: {
          rules: [
            { when: { language: ['pt-br'] }, paths: [{ offers: [{ id: ids.zone }] }] },
            { when: { language: ['pt'] }, paths: [{ offers: [{ id: ids.us }] }] },
          ],
          paths: [{ offers: [{ id: ids.default }] }],
        },
      });
      const lang = (value: string) => click('/click/lang1', { ip: DE_IP, headers: { 'accept-language': value } });
      expect((await lang('pt-BR,pt;q=0.9,en;q=0.5')).headers.location).toBe('https://zone.example/');
      expect((await lang('pt-PT,pt;q=0.9')).headers.location).toBe('https://us.example/');
      expect((await lang('en-US')).headers.location).toBe('https://default.example/');
      const res = await lang('pt-BR');
      // The visit keeps the primary language, as reports group it.
      expect((await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!)).language).toBe('pt');
    });

    it('matches OS, device and param, first matching rule first', async () => {
      expect((await click('/click/rules1', { ua: SAFARI_IPHONE, ip: DE_IP })).headers.location).toBe('https://ios.example/');
      expect((await click('/click/rules1', { ua: ANDROID, ip: DE_IP })).headers.location).toBe('https://mobile.example/');
      expect((await click('/click/rules1?zone=123', { ua: ANDROID, ip: US_IP })).headers.location).toBe('https://zone.example/');
      expect((await click('/click/rules1?zone=1234', { ip: DE_IP })).headers.location).toBe('https://default.example/');
    });

    it('records which rule and path served the visit', async () => {
      const res = await click('/click/rules1', { ua: SAFARI_IPHONE, ip: DE_IP });
      const visit = await visitRow(cookieValue(res.headers['set-cookie'], 'tlcid')!);
      expect(visit).toMatchObject({ ruleIndex: 2, pathIndex: 0, offerId: ids.ios, os: 'ios', device: 'mobile' });
    });

    it('matches a schedule (dayparting) rule on the local weekday and hour of the visit', async () => {
      const tz = 'Asia/Kathmandu';
      const { day, hour } = localDayHour(tz, new Date());
      const near = [23, 0, 1, 2].map((d) => (hour + d) % 24); // the hour before to two after: safe across a turn of the hour
      const far = Array.from({ length: 24 }, (_, h) => h).filter((h) => !near.includes(h));
      const ts = await seedTrafficSource(t.app.ctx);
      for (const [key, hours] of [['sched1', near], ['sched2', far]] as const) {
        await seedCampaign(t.app.ctx, {
          key,
          trafficSourceId: ts.id,
          flow: { rules: [{ when: { schedule: { tz, days: [day, (day % 7) + 1], hours: [...hours] } }, paths: [{ offers: [{ id: ids.us }] }] }], paths: [{ offers: [{ id: ids.default }] }] },
        });
      }
      expect((await click('/click/sched1', { ip: DE_IP })).headers.location).toBe('https://us.example/');
      await seedCampaign(t.app.ctx, {
        key: 'ipref1',
        trafficSourceId: ts.id,
        flow: {
          rules: [
            { when: { ip: [`${DE_IP}/32`] }, paths: [{ offers: [{ id: ids.zone }] }] },
            { when: { referrer: ['facebook.com'] }, paths: [{ offers: [{ id: ids.mobile }] }] },
          ],
          paths: [{ offers: [{ id: ids.default }] }],
        },
      });
      expect((await click('/click/ipref1', { ip: DE_IP })).headers.location).toBe('https://zone.example/');
      const fromFacebook = await click('/click/ipref1', { ip: US_IP, headers: { referer: 'https://l.facebook.com/l.php?u=x' } });
      expect(fromFacebook.headers.location).toBe('https://mobile.example/');
      expect((await click('/click/sched2', { ip: DE_IP })).headers.location).toBe('https://default.example/');
    });
  });

  it('splits a 70/30 path weight within 3 points over 5,000 visits', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const a = await seedOffer(t.app.ctx, { url: 'https://seventy.example/' });
    const b = await seedOffer(t.app.ctx, { url: 'https://thirty.example/' });
    await seedCampaign(t.app.ctx, {
      key: 'split1',
      trafficSourceId: ts.id,
      flow: { rules: [], paths: [{ weight: 70, offers: [{ id: a.id }] }, { weight: 30, offers: [{ id: b.id }] }] },
    });
    let seventy = 0;
    const n = 5000;
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => click('/click/split1')));
      for (const r of batch) if (r.headers.location === 'https://seventy.example/') seventy++;
    }
    expect(Math.abs(seventy / n - 0.7)).toBeLessThan(0.03);
    await flush();
    const counted = await t.app.ctx.db.select({ offerId: visits.offerId }).from(visits).where(eq(visits.offerId, a.id));
    expect(counted.length).toBe(seventy);
  });

  it('keeps hostile tokens on the configured host, with one Location header and never a 5xx', async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'camp', token: '{c}', role: 'campaign' },
        { name: 'ext', token: '{e}', role: 'externalId' },
        { name: 'cost', token: '{cost}', role: 'cost' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, {
      url: 'https://offer.example/{var:p}/x{externalid}?a={var:p}&b={ts.campaign}&c={cost}&d={externalid}#{var:p}',
    });
    await seedCampaign(t.app.ctx, { key: 'hostile1', trafficSourceId: ts.id, costModel: 'auto', flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });
    const hostile = ['a&b=c', '=', 'two words', 'ünï©ødé 🙂', '%0d%0aSet-Cookie:%20x=1', '%0D%0ALocation:%20https://evil.example', '//evil.example', '/\\evil.example', '@evil.example', 'https://evil.example', '..%2f..%2fevil', '%00', '%E0%A4%A', '\\\\evil.example'];
    for (const h of hostile) {
      const enc = encodeURIComponent(h);
      for (const query of [`p=${enc}`, `camp=${enc}`, `ext=${enc}`, `cost=${enc}`, `p=${h}&ext=${h}&camp=${h}`]) {
        const res = await click(`/click/hostile1?${query}`, { headers: { referer: h, 'accept-language': h } });
        expect(res.statusCode, `${query}`).toBe(302);
        const location = res.headers.location;
        expect(typeof location, query).toBe('string');
        const u = new URL(location as string);
        expect(u.host, query).toBe('offer.example');
        expect(u.protocol).toBe('https:');
        expect(location).not.toMatch(/[\r\n\s]/);
        expect(res.raw.res.getHeaders().location).toBe(location);
      }
    }
    // The value comes back out of the query string intact: encoded, not mangled.
    const res = await click(`/click/hostile1?p=${encodeURIComponent('a&b=c d')}`);
    expect(new URL(res.headers.location as string).searchParams.get('a')).toBe('a&b=c d');
  });

  it('writes the visit row with every field after a forced flush', async () => {
    const ts = await seedTrafficSource(t.app.ctx, {
      params: [
        { name: 'c', token: '{campaign}', role: 'campaign' },
        { name: 'as', token: '{adset}', role: 'adset' },
        { name: 'ad', token: '{ad}', role: 'ad' },
        { name: 'pl', token: '{placement}', role: 'placement' },
        { name: 'ext', token: '{clickid}', role: 'externalId' },
        { name: 'bid', token: '{bid}', role: 'cost' },
      ],
    });
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/' });
    const campaign = await seedCampaign(t.app.ctx, {
      key: 'fields1',
      trafficSourceId: ts.id,
      costModel: 'auto',
      flow: { rules: [], paths: [{ name: 'main', offers: [{ id: offer.id }] }] },
    });
    const before = Date.now();
    const res = await click('/click/fields1?c=cmp&as=set&ad=ad9&pl=site.example&ext=EXT1&bid=0.0125&extra=yes', {
      ip: US_IP,
      headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5', referer: 'https://news.example/article?id=1' },
    });
    const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
    const row = await visitRow(clickId);
    expect(row).toMatchObject({
      clickId,
      campaignId: campaign.id,
      trafficSourceId: ts.id,
      ruleIndex: -1,
      pathIndex: 0,
      pathName: 'main',
      landerId: null,
      offerId: offer.id,
      affiliateNetworkId: null,
      tsCampaign: 'cmp',
      tsAdset: 'set',
      tsAd: 'ad9',
      tsPlacement: 'site.example',
      externalId: 'EXT1',
      params: { c: 'cmp', as: 'set', ad: 'ad9', pl: 'site.example', ext: 'EXT1', bid: '0.0125', extra: 'yes' },
      ip: US_IP,
      userAgent: CHROME_WIN,
      device: 'desktop',
      os: 'windows',
      osVersion: '10',
      browser: 'chrome',
      browserVersion: '120.0.0.0',
      country: 'US',
      language: 'de',
      referrerDomain: 'news.example',
      isBot: false,
      isUnique: true,
      cost: '0.012500',
    });
    expect(row.visitedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(row.visitedAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('books cost per visit for cpc and cpm, and none for cpa', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/' });
    const flow = { rules: [], paths: [{ offers: [{ id: offer.id }] }] };
    await seedCampaign(t.app.ctx, { key: 'cpc1', trafficSourceId: ts.id, flow, costModel: 'cpc', costValue: '0.35' });
    await seedCampaign(t.app.ctx, { key: 'cpm1', trafficSourceId: ts.id, flow, costModel: 'cpm', costValue: '2.5' });
    await seedCampaign(t.app.ctx, { key: 'cpa1', trafficSourceId: ts.id, flow, costModel: 'cpa', costValue: '10' });
    const costOf = async (key: string) => (await visitRow(cookieValue((await click(`/click/${key}`)).headers['set-cookie'], 'tlcid')!)).cost;
    expect(await costOf('cpc1')).toBe('0.350000');
    expect(await costOf('cpm1')).toBe('0.002500');
    expect(await costOf('cpa1')).toBe('0.000000');
  });

  it('counts a visitor once per campaign within the unique window', async () => {
    const a = await seedDirectCampaign(t.app.ctx, 'uniqa');
    const b = await seedCampaign(t.app.ctx, { key: 'uniqb', trafficSourceId: a.ts.id, flow: a.campaign.flow });
    void b;
    const ip = '5.9.0.1';
    const first = await click('/click/uniqa', { ip });
    const visitorCookie = cookieValue(first.headers['set-cookie'], 'tlvid')!;
    expect(visitorCookie).toMatch(/^[0-9a-f]{24}$/);
    const again = await click('/click/uniqa', { ip });
    const otherUa = await click('/click/uniqa', { ip, ua: ANDROID });
    // Same browser (cookie) from another network: still the same visitor.
    const cookieOtherIp = await click('/click/uniqa', { ip: '5.9.0.2', headers: { cookie: `tlvid=${visitorCookie}` } });
    const otherCampaign = await click('/click/uniqb', { ip });
    const uniqueOf = async (r: typeof first) => (await visitRow(cookieValue(r.headers['set-cookie'], 'tlcid')!)).isUnique;
    expect(await uniqueOf(first)).toBe(true);
    expect(await uniqueOf(again)).toBe(false);
    expect(await uniqueOf(otherUa)).toBe(true);
    expect(await uniqueOf(cookieOtherIp)).toBe(false);
    expect(await uniqueOf(otherCampaign)).toBe(true);
    // A returning visitor with the cookie is not sent a new one.
    expect(cookieValue(cookieOtherIp.headers['set-cookie'], 'tlvid')).toBeUndefined();
  });

  it('redirects bots and HEAD requests, and records them flagged', async () => {
    await seedDirectCampaign(t.app.ctx, 'bots1');
    const bot = await click('/click/bots1', { ua: GOOGLEBOT });
    const empty = await click('/click/bots1', { ua: '' });
    const head = await click('/click/bots1', { method: 'HEAD' });
    for (const r of [bot, empty, head]) expect(r.statusCode).toBe(302);
    for (const r of [bot, empty, head]) expect((await visitRow(cookieValue(r.headers['set-cookie'], 'tlcid')!)).isBot).toBe(true);
    const human = await click('/click/bots1');
    expect((await visitRow(cookieValue(human.headers['set-cookie'], 'tlcid')!)).isBot).toBe(false);
  });

  it('serves meta and double-meta refresh pages with the URL escaped', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/m?a=1&c={clickid}&q={var:q}' });
    const flow = { rules: [], paths: [{ offers: [{ id: offer.id }] }] };
    await seedCampaign(t.app.ctx, { key: 'meta1', trafficSourceId: ts.id, flow, redirectMode: 'meta' });
    await seedCampaign(t.app.ctx, { key: 'dmeta1', trafficSourceId: ts.id, flow, redirectMode: 'doubleMeta' });

    const meta = await click('/click/meta1?q=%22%3E%3Cscript%3E');
    expect(meta.statusCode).toBe(200);
    expect(meta.headers['content-type']).toMatch(/^text\/html/);
    const id = cookieValue(meta.headers['set-cookie'], 'tlcid')!;
    const url = `https://offer.example/m?a=1&amp;c=${id}&amp;q=%22%3E%3Cscript%3E`;
    expect(meta.body).toContain(`<meta http-equiv="refresh" content="0;url=${url}">`);
    expect(meta.body).not.toContain('<script>');
    expect(meta.headers.location).toBeUndefined();

    const first = await click('/click/dmeta1');
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('<meta name="referrer" content="no-referrer">');
    const dmId = cookieValue(first.headers['set-cookie'], 'tlcid')!;
    const hop = /content="0;url=([^"]+)"/.exec(first.body)![1].replace(/&amp;/g, '&');
    expect(hop.startsWith('/dm?')).toBe(true);
    const second = await t.app.inject({ url: hop });
    expect(second.statusCode).toBe(200);
    expect(second.headers['referrer-policy']).toBe('no-referrer');
    expect(second.body).toContain('<meta name="referrer" content="no-referrer">');
    expect(second.body).toContain(`content="0;url=https://offer.example/m?a=1&amp;c=${dmId}&amp;q="`);
    // The hop is signed: it will not send anyone anywhere else.
    const forged = await t.app.inject({ url: hop.replace('offer.example', 'evil.example') });
    expect(forged.statusCode).toBe(404);
  });

  it('reports the click writer and tracking counters on /api/tracking/status', async () => {
    await flush();
    const res = await t.app.inject({ url: '/api/tracking/status', headers: authHeaders() });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.geoDb).toMatch(/\.mmdb$/);
    expect(body.clickWriter.visits.lastError, JSON.stringify(body.clickWriter)).toBeNull();
    expect(body.counters.visits).toBeGreaterThan(5000);
    expect(body.clickWriter.visits.written).toBe(body.counters.visits);
    expect(body.clickWriter.visits.buffered).toBe(0);
    expect(body.clickWriter.visits.dropped).toEqual({});
    expect((await t.app.inject({ url: '/api/tracking/status' })).statusCode).toBe(401);
  });

  it('documents the tracking routes in /openapi.json', async () => {
    const paths = Object.keys((await t.app.inject('/openapi.json')).json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/click/{key}', '/cta', '/cta/{n}', '/api/tracking/status']));
  });

  it('marks the cookie Secure on an https PUBLIC_URL, flags deny-listed IPs as bots, and serves without a geo database', async () => {
    await seedDirectCampaign(t.app.ctx, 'secure1');
    const other = await buildTestApp(t.backend, {
      env: { PUBLIC_URL: 'https://track.example', BOT_IP_DENYLIST: '203.0.113.0/24', GEOIP_DB: '/nonexistent/geo.mmdb', TRUST_PROXY: '127.0.0.1' },
    });
    try {
      const res = await other.app.inject({ url: '/click/secure1', headers: { 'user-agent': CHROME_WIN, 'x-forwarded-for': '203.0.113.9' } });
      expect(res.statusCode).toBe(302);
      const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
      expect(res.headers['set-cookie']).toContain(`tlcid=${clickId}; Max-Age=2592000; Path=/; HttpOnly; Secure; SameSite=Lax`);
      await other.app.ctx.clickWriter!.flush();
      const [row] = await other.app.ctx.db.select().from(visits).where(eq(visits.clickId, clickId));
      expect(row).toMatchObject({ isBot: true, ip: '203.0.113.9', country: null });
    } finally {
      await other.close();
    }
  });

  it('sets SameSite=None with COOKIE_SAMESITE=none, so the cookie pixel on an offer page of another site gets the click ID', async () => {
    await seedDirectCampaign(t.app.ctx, 'samesite1');
    const other = await buildTestApp(t.backend, { env: { PUBLIC_URL: 'https://track.example', COOKIE_SAMESITE: 'none' } });
    try {
      const res = await other.app.inject({ url: '/click/samesite1', headers: { 'user-agent': CHROME_WIN } });
      const clickId = cookieValue(res.headers['set-cookie'], 'tlcid')!;
      expect(res.headers['set-cookie']).toContain(`tlcid=${clickId}; Max-Age=2592000; Path=/; HttpOnly; Secure; SameSite=None`);
    } finally {
      await other.close();
    }
  });

  it('fills {var:NAME} from the visit\'s own parameters only, even for names Object.prototype has', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const offer = await seedOffer(t.app.ctx, { url: 'https://offer.example/o?a={var:constructor}&b={var:toString}&c={var:__proto__}&d={var:hasOwnProperty}' });
    const other = await seedOffer(t.app.ctx, { url: 'https://other.example/' });
    await seedCampaign(t.app.ctx, {
      key: 'proto1',
      trafficSourceId: ts.id,
      flow: { rules: [{ when: { param: { toString: [''] } }, paths: [{ offers: [{ id: other.id }] }] }], paths: [{ offers: [{ id: offer.id }] }] },
    });
    // No such parameters: a rule asking for an empty one matches, as for any other absent name.
    const none = await click('/click/proto1?x=1');
    expect(none.statusCode).toBe(302);
    expect(none.headers.location).toBe('https://other.example/');
    const given = await click('/click/proto1?constructor=c1&toString=t1');
    expect(given.statusCode).toBe(302);
    expect(given.headers.location).toBe('https://offer.example/o?a=c1&b=t1&c=&d=');
  });

  it('records a /visit with the page\'s referrer sent by track.js, not the lander the call comes from', async () => {
    const ts = await seedTrafficSource(t.app.ctx);
    const fb = await seedOffer(t.app.ctx, { url: 'https://fb.example/' });
    const lander = await seedLander(t.app.ctx, { url: 'https://lander.example/lp' });
    await seedCampaign(t.app.ctx, {
      key: 'visitref1',
      trafficSourceId: ts.id,
      flow: {
        rules: [{ when: { referrer: ['facebook.com'] }, paths: [{ offers: [{ id: fb.id }] }] }],
        paths: [{ landers: [{ id: lander.id }], offers: [{ id: fb.id }] }],
      },
    });
    const visit = (query: string) =>
      t.app.inject({ url: `/visit/visitref1${query}`, headers: { 'user-agent': CHROME_WIN, referer: 'https://lander.example/' } });
    const fromFacebook = await visit(`?sub=1&tl_referrer=${encodeURIComponent('https://l.facebook.com/l.php?u=abc')}`);
    expect(fromFacebook.statusCode, fromFacebook.body).toBe(200);
    // The referrer rule sees Facebook, as /click would have.
    expect(fromFacebook.json().destination).toBe('https://fb.example/');
    const row = await visitRow(fromFacebook.json().clickId);
    expect(row.referrerDomain).toBe('l.facebook.com');
    expect(row.params).toEqual({ sub: '1' });

    const direct = await visit('?tl_referrer=');
    expect(direct.json().destination).toBe('https://lander.example/lp');
    expect((await visitRow(direct.json().clickId)).referrerDomain).toBeNull();
    // A caller that does not send it (an older cached track.js): the Referer header, as before.
    expect((await visitRow((await visit('')).json().clickId)).referrerDomain).toBe('lander.example');
  });

  it('generates click IDs that are letters and digits only', async () => {
    await seedDirectCampaign(t.app.ctx, 'ids1');
    const res = await click('/click/ids1');
    expect(cookieValue(res.headers['set-cookie'], 'tlcid')).toMatch(CLICK_ID_RE);
  });
});
