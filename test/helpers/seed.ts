// Seeds campaign config straight into the tables (no management API needed) and reloads the
// campaign cache, for tests of /click, /cta, postbacks and reports.
import type { FastifyInstance } from 'fastify';
import { openPostgres, type Db } from '../../src/db/client.js';
import { campaigns, landers, offers, trafficSources, type Flow, type TrafficSourceParam } from '../../src/db/schema.js';

type Ctx = FastifyInstance['ctx'];

export async function seedTrafficSource(ctx: Ctx, values: { name?: string; params?: TrafficSourceParam[]; postbackUrl?: string | null } = {}) {
  const [row] = await ctx.db
    .insert(trafficSources)
    .values({ name: values.name ?? 'Test source', params: values.params ?? [], postbackUrl: values.postbackUrl ?? null })
    .returning();
  return row;
}

export async function seedOffer(
  ctx: Ctx,
  values: { name?: string; url: string; payout?: string; currency?: string; attributionWindowDays?: number; affiliateNetworkId?: number | null },
) {
  const [row] = await ctx.db
    .insert(offers)
    .values({
      name: values.name ?? 'Test offer',
      url: values.url,
      payout: values.payout ?? '1',
      currency: values.currency ?? 'USD',
      attributionWindowDays: values.attributionWindowDays ?? 30,
      affiliateNetworkId: values.affiliateNetworkId ?? null,
    })
    .returning();
  return row;
}

export async function seedLander(ctx: Ctx, values: { name?: string; url: string; offerCount?: number }) {
  const [row] = await ctx.db
    .insert(landers)
    .values({ name: values.name ?? 'Test lander', url: values.url, offerCount: values.offerCount ?? 1 })
    .returning();
  return row;
}

export interface SeedCampaign {
  key: string;
  name?: string;
  trafficSourceId: number;
  flow: Flow;
  costModel?: 'none' | 'cpc' | 'cpm' | 'cpa' | 'revshare' | 'auto';
  costValue?: string | null;
  fallbackUrl?: string | null;
  redirectMode?: '302' | 'meta' | 'doubleMeta';
  status?: 'active' | 'paused' | 'archived';
}

/** Inserts a campaign and reloads the cache so /click serves it at once. */
export async function seedCampaign(ctx: Ctx, values: SeedCampaign) {
  const [row] = await ctx.db
    .insert(campaigns)
    .values({
      key: values.key,
      name: values.name ?? `Campaign ${values.key}`,
      trafficSourceId: values.trafficSourceId,
      flow: values.flow,
      costModel: values.costModel ?? 'none',
      costValue: values.costValue ?? null,
      fallbackUrl: values.fallbackUrl ?? null,
      redirectMode: values.redirectMode ?? '302',
      status: values.status ?? 'active',
    })
    .returning();
  await ctx.campaigns.refresh();
  return row;
}

/** One traffic source, one offer and a direct campaign: the smallest thing /click can serve. */
export async function seedDirectCampaign(ctx: Ctx, key: string, offerUrl = 'https://offer.example/go?sub1={clickid}') {
  const ts = await seedTrafficSource(ctx);
  const offer = await seedOffer(ctx, { url: offerUrl });
  const campaign = await seedCampaign(ctx, { key, trafficSourceId: ts.id, flow: { rules: [], paths: [{ offers: [{ id: offer.id }] }] } });
  return { ts, offer, campaign };
}

/** seedDirectCampaign on a bare database (no app, so no cache to refresh): a server process started later loads it. */
export function seedDirectCampaignIn(db: Db, key: string, offerUrl?: string) {
  return seedDirectCampaign({ db, campaigns: { refresh: async () => undefined } } as unknown as Ctx, key, offerUrl);
}

/** seedDirectCampaignIn through a short-lived pool on the Postgres at `url`, closed whatever happens. */
export async function seedDirectCampaignAt(url: string, key: string, offerUrl?: string) {
  const database = openPostgres({ url, poolMax: 1 });
  try {
    return await seedDirectCampaignIn(database.db, key, offerUrl);
  } finally {
    await database.close();
  }
}
