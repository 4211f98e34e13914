// Each traffic-source preset yields the campaign link its network documents, and each
// affiliate-network preset the postback URL its network expects. Exact strings on purpose:
// one wrong character in a macro silently loses the data in production.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, setupTestApp } from '../helpers/test-app.js';

describe('presets (real Postgres and Redis)', () => {
  let t: Awaited<ReturnType<typeof setupTestApp>>;
  let offerId: number;
  const post = async (url: string, payload: unknown) => {
    const res = await t.app.inject({ method: 'POST', url, payload: payload as never, headers: authHeaders() });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };

  beforeAll(async () => {
    t = await setupTestApp('postgres');
    offerId = (await post('/api/offers', { name: 'o', url: 'https://offer.example/?c={clickid}' })).id;
  });
  afterAll(async () => t?.close());

  /** The query string of the campaign link for a fresh campaign on a traffic source made from `preset`. */
  const linkFor = async (preset: string) => {
    const ts = await post('/api/traffic-sources', { name: `${preset} source`, preset });
    const c = await post('/api/campaigns', { name: `${preset} campaign`, trafficSourceId: ts.id, flow: { paths: [{ offers: [{ id: offerId }] }] } });
    const prefix = `http://track.test/click/${c.key}?`;
    expect(c.trackingUrl.startsWith(prefix)).toBe(true);
    return { query: c.trackingUrl.slice(prefix.length), ts };
  };

  it('facebook: {{campaign.id}}-style macros; fbclid is appended by Facebook itself', async () => {
    const { query, ts } = await linkFor('facebook');
    expect(query).toBe('campaign_id={{campaign.id}}&adset_id={{adset.id}}&ad_id={{ad.id}}&placement={{placement}}&site_source={{site_source_name}}');
    expect(ts.params).toContainEqual({ name: 'fbclid', token: '', role: 'externalId' });
    expect(ts.postbackUrl).toBeNull();
  });

  it('google: ValueTrack parameters and gclid', async () => {
    const { query, ts } = await linkFor('google');
    expect(query).toBe('campaignid={campaignid}&adgroupid={adgroupid}&creative={creative}&keyword={keyword}&placement={placement}&gclid={gclid}');
    expect(ts.postbackUrl).toBeNull();
  });

  it('tiktok: double-underscore macros and ttclid from __CALLBACK_PARAM__', async () => {
    const { query, ts } = await linkFor('tiktok');
    expect(query).toBe('campaign_id=__CAMPAIGN_ID__&adgroup_id=__AID__&ad_id=__CID__&placement=__PLACEMENT__&ttclid=__CALLBACK_PARAM__');
    expect(ts.postbackUrl).toBeNull();
  });

  it('taboola: tracking macros and an S2S postback', async () => {
    const { query, ts } = await linkFor('taboola');
    expect(query).toBe('campaign_id={campaign_id}&campaign_item_id={campaign_item_id}&site_id={site_id}&click_id={click_id}');
    expect(ts.postbackUrl).toBe('https://trc.taboola.com/actions-handler/log/3/s2s-action?click-id={externalid}&name={type}&revenue={payout}&currency={currency}');
  });

  it('outbrain: {{double-brace}} macros and ob_click_id', async () => {
    const { query, ts } = await linkFor('outbrain');
    expect(query).toBe('campaign_id={{campaign_id}}&ad_id={{ad_id}}&section_id={{section_id}}&ob_click_id={{ob_click_id}}');
    expect(ts.postbackUrl).toBe('https://tr.outbrain.com/unifiedPixel?ob_click_id={externalid}&name={type}&orderValue={payout}&currency={currency}');
  });

  it('mgid: widget, teaser, campaign and click ID macros, and its postback', async () => {
    const { query, ts } = await linkFor('mgid');
    expect(query).toBe('campaign_id={campaign_id}&teaser_id={teaser_id}&widget_id={widget_id}&click_id={click_id}');
    expect(ts.postbackUrl).toBe('https://a.mgid.com/postback?c={externalid}&e={type}&r={payout}');
  });

  it('propellerads: {zoneid}-style macros and ${SUBID}', async () => {
    const { query, ts } = await linkFor('propellerads');
    expect(query).toBe('campaign_id={campaignid}&banner_id={bannerid}&zone_id={zoneid}&subid=${SUBID}');
    expect(ts.postbackUrl).toBeNull();
  });

  it('lists the presets', async () => {
    const res = await t.app.inject({ url: '/api/traffic-sources/presets', headers: authHeaders() });
    expect(res.json().items.map((p: { name: string }) => p.name)).toEqual(['facebook', 'google', 'tiktok', 'taboola', 'outbrain', 'mgid', 'propellerads']);
    const nets = await t.app.inject({ url: '/api/affiliate-networks/presets', headers: authHeaders() });
    expect(nets.json().items.find((p: { name: string }) => p.name === 'everflow')).toMatchObject({ clickIdToken: '{sub1}' });
  });

  it.each([
    ['tune', 'cid={aff_sub}&payout={payout}&txid={transaction_id}'],
    ['hasoffers', 'cid={aff_sub}&payout={payout}&txid={transaction_id}'],
    ['cake', 'cid=#s2#&payout=#price#&txid=#tid#'],
    ['everflow', 'cid={sub1}&payout={payout_amount}&txid={transaction_id}'],
    ['impact', 'cid={SubId1}&payout={Payout}&txid={ActionId}&status={ActionStatus}'],
  ])('affiliate network preset %s gives its postback URL', async (preset, query) => {
    const n = await post('/api/affiliate-networks', { name: `${preset} network`, preset });
    expect(n.postbackUrl).toBe(`http://track.test/postback?${query}`);
    if (preset === 'impact') expect(n.statusMap).toEqual({ APPROVED: 'approved', PENDING: 'pending', REVERSED: 'declined' });
  });

  it('an explicit macro wins over the preset', async () => {
    const n = await post('/api/affiliate-networks', { name: 'tune sub2', preset: 'tune', clickIdToken: '{aff_sub2}', txidToken: null });
    expect(n.postbackUrl).toBe('http://track.test/postback?cid={aff_sub2}&payout={payout}');
  });
});
