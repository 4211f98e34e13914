// Rows attribution tests need: an affiliate network, a traffic source, an offer, a campaign, and
// visits placed where /click would leave them (Postgres, the Redis hot record, or both).
import { randomBytes } from 'node:crypto';
import { affiliateNetworks, campaigns, offers, trafficSources, visits, type ConversionStatus } from '../../src/db/schema.js';
import type { Db } from '../../src/db/client.js';
import type { HotStore } from '../../src/store/hot-store.js';
import { saveHotClick, toHotClick, type VisitRow } from '../../src/tracking/hot-click.js';

export const newClickId = () => randomBytes(10).toString('hex');

export interface FixtureOptions {
  network?: { postbackSecret?: string | null; allowedIps?: string[]; statusMap?: Record<string, ConversionStatus> };
  trafficSource?: { postbackUrl?: string | null; postbackStatuses?: string[] };
  offer?: { payout?: string; currency?: string; allowDuplicates?: boolean; attributionWindowDays?: number };
  campaign?: { costModel?: string; costValue?: string | null; forwardPostbacks?: boolean };
}

export interface Fixture {
  networkId: number;
  trafficSourceId: number;
  offerId: number;
  campaignId: number;
}

export async function createFixture(db: Db, o: FixtureOptions = {}): Promise<Fixture> {
  const tag = randomBytes(4).toString('hex');
  const [network] = await db
    .insert(affiliateNetworks)
    .values({ name: `net ${tag}`, postbackSecret: o.network?.postbackSecret ?? null, allowedIps: o.network?.allowedIps ?? [], statusMap: o.network?.statusMap ?? {} })
    .returning();
  const [ts] = await db
    .insert(trafficSources)
    .values({ name: `ts ${tag}`, postbackUrl: o.trafficSource?.postbackUrl ?? null, postbackStatuses: o.trafficSource?.postbackStatuses ?? ['approved'] })
    .returning();
  const [offer] = await db
    .insert(offers)
    .values({
      name: `offer ${tag}`,
      url: 'https://offer.example/?s={clickid}',
      payout: o.offer?.payout ?? '10',
      currency: o.offer?.currency ?? 'USD',
      affiliateNetworkId: network.id,
      allowDuplicates: o.offer?.allowDuplicates ?? false,
      attributionWindowDays: o.offer?.attributionWindowDays ?? 30,
    })
    .returning();
  const [campaign] = await db
    .insert(campaigns)
    .values({
      key: `c${tag}`,
      name: `campaign ${tag}`,
      trafficSourceId: ts.id,
      costModel: o.campaign?.costModel ?? 'none',
      costValue: o.campaign?.costValue ?? null,
      forwardPostbacks: o.campaign?.forwardPostbacks ?? true,
      flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] },
    })
    .returning();
  return { networkId: network.id, trafficSourceId: ts.id, offerId: offer.id, campaignId: campaign.id };
}

export function visitFor(f: Fixture, over: Partial<VisitRow> = {}): VisitRow {
  return {
    clickId: newClickId(),
    visitedAt: new Date(Date.now() - 3600_000),
    campaignId: f.campaignId,
    trafficSourceId: f.trafficSourceId,
    offerId: f.offerId,
    affiliateNetworkId: f.networkId,
    pathName: 'main',
    externalId: `ext-${randomBytes(3).toString('hex')}`,
    tsCampaign: 'spring sale',
    tsAdset: 'adset 1',
    tsAd: 'ad/1',
    tsPlacement: 'feed',
    params: { zone: 'z 42&x=1', sub1: 'abc' },
    country: 'DE',
    device: 'mobile',
    os: 'Android',
    browser: 'Chrome',
    language: 'de',
    ...over,
  };
}

/** Places a visit as /click would: in Postgres, as the hot record only, or both. */
export async function seedVisit(
  deps: { db: Db; store: HotStore },
  f: Fixture,
  where: 'postgres' | 'hot' | 'both' = 'both',
  over: Partial<VisitRow> = {},
): Promise<VisitRow> {
  const v = visitFor(f, over);
  if (where !== 'hot') await deps.db.insert(visits).values(v);
  if (where !== 'postgres') await saveHotClick(deps.store, toHotClick(v), 3600);
  return v;
}
