// Keeps every servable campaign in memory, resolved, so /click never queries Postgres for config.
// A write calls changed(): this instance reloads and every other one hears of it (config-snapshot.ts).
import { inArray, ne } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import { campaigns, landers, offers, trafficSources, type Flow } from '../db/schema.js';
import type { HotStore } from '../store/hot-store.js';
import { createConfigSnapshot } from './config-snapshot.js';
import type { CampaignCache, ResolvedCampaign, ResolvedLander, ResolvedOffer } from './resolved-campaign.js';


export function flowRefs(flow: Flow): { offerIds: Set<number>; landerIds: Set<number> } {
  const offerIds = new Set<number>();
  const landerIds = new Set<number>();
  for (const path of [...flow.paths, ...flow.rules.flatMap((r) => r.paths)]) {
    for (const o of path.offers) offerIds.add(o.id);
    for (const l of path.landers ?? []) landerIds.add(l.id);
  }
  return { offerIds, landerIds };
}

/** Loads every campaign that is not archived, with what it references. */
export async function loadCampaigns(db: Db): Promise<ResolvedCampaign[]> {
  const camps = await db.select().from(campaigns).where(ne(campaigns.status, 'archived'));
  if (camps.length === 0) return [];
  const offerIds = new Set<number>();
  const landerIds = new Set<number>();
  for (const c of camps) {
    const refs = flowRefs(c.flow);
    refs.offerIds.forEach((id) => offerIds.add(id));
    refs.landerIds.forEach((id) => landerIds.add(id));
  }
  const tsIds = [...new Set(camps.map((c) => c.trafficSourceId))];
  const [tsRows, offerRows, landerRows] = await Promise.all([
    db.select().from(trafficSources).where(inArray(trafficSources.id, tsIds)),
    offerIds.size ? db.select().from(offers).where(inArray(offers.id, [...offerIds])) : Promise.resolve([]),
    landerIds.size ? db.select().from(landers).where(inArray(landers.id, [...landerIds])) : Promise.resolve([]),
  ]);
  const tsById = new Map(tsRows.map((t) => [t.id, t]));
  const offerById = new Map<number, ResolvedOffer>(
    offerRows.map((o) => [
      o.id,
      {
        id: o.id,
        name: o.name,
        url: o.url,
        payout: o.payout,
        currency: o.currency,
        affiliateNetworkId: o.affiliateNetworkId,
        attributionWindowDays: o.attributionWindowDays,
        allowDuplicates: o.allowDuplicates,
      },
    ]),
  );
  const landerById = new Map<number, ResolvedLander>(
    landerRows.map((l) => [l.id, { id: l.id, name: l.name, url: l.url, offerCount: l.offerCount }]),
  );
  const out: ResolvedCampaign[] = [];
  for (const c of camps) {
    const ts = tsById.get(c.trafficSourceId);
    if (!ts) continue;
    const refs = flowRefs(c.flow);
    out.push({
      id: c.id,
      key: c.key,
      name: c.name,
      status: c.status as ResolvedCampaign['status'],
      trafficSource: { id: ts.id, name: ts.name, params: ts.params },
      costModel: c.costModel as ResolvedCampaign['costModel'],
      costValue: c.costValue,
      flow: c.flow,
      fallbackUrl: c.fallbackUrl,
      redirectMode: c.redirectMode as ResolvedCampaign['redirectMode'],
      forwardPostbacks: c.forwardPostbacks,
      offers: new Map([...refs.offerIds].flatMap((id) => (offerById.has(id) ? [[id, offerById.get(id)!] as const] : []))),
      landers: new Map([...refs.landerIds].flatMap((id) => (landerById.has(id) ? [[id, landerById.get(id)!] as const] : []))),
    });
  }
  return out;
}

export interface CampaignCacheOptions {
  db: Db;
  store: HotStore;
  log: FastifyBaseLogger;
  pollMs?: number;
}

interface CampaignIndex {
  byKey: Map<string, ResolvedCampaign>;
  byId: Map<number, ResolvedCampaign>;
}

export async function createCampaignCache({ db, store, log, pollMs = 1000 }: CampaignCacheOptions): Promise<CampaignCache> {
  const snapshot = await createConfigSnapshot<CampaignIndex>({
    name: 'campaign cache',
    db,
    store,
    log,
    pollMs,
    load: async (d) => {
      const list = await loadCampaigns(d);
      return { byKey: new Map(list.map((c) => [c.key, c])), byId: new Map(list.map((c) => [c.id, c])) };
    },
  });
  return {
    byKey: (key) => snapshot.current().byKey.get(key),
    byId: (id) => snapshot.current().byId.get(id),
    async refresh() {
      await snapshot.refresh();
    },
    changed: () => snapshot.changed(),
    close: () => snapshot.close(),
  };
}
