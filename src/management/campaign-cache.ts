// Keeps every servable campaign in memory, resolved, so /click never queries Postgres for config.
// A write calls changed(): this instance reloads and publishes on the hot store, and every other
// instance reloads on that message. A poll of a cheap fingerprint is the safety net for a missed
// message (Redis down), so a change still arrives within CAMPAIGN_POLL_MS.
import { inArray, ne, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rows, type Db } from '../db/client.js';
import { campaigns, landers, offers, trafficSources, type Flow } from '../db/schema.js';
import type { HotStore } from '../store/hot-store.js';
import type { CampaignCache, ResolvedCampaign, ResolvedLander, ResolvedOffer } from './resolved-campaign.js';

export const CONFIG_CHANNEL = 'config-changed';

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

/** Changes whenever any row the cache depends on changes (every write bumps updated_at). */
async function fingerprint(db: Db): Promise<string> {
  const [r] = await rows<{ f: string }>(
    db,
    sql`select concat_ws('|',
      (select concat(count(*), ':', max(updated_at)) from campaigns),
      (select concat(count(*), ':', max(updated_at)) from offers),
      (select concat(count(*), ':', max(updated_at)) from landers),
      (select concat(count(*), ':', max(updated_at)) from traffic_sources)) as f`,
  );
  return r.f;
}

export interface CampaignCacheOptions {
  db: Db;
  store: HotStore;
  log: FastifyBaseLogger;
  pollMs?: number;
}

export async function createCampaignCache({ db, store, log, pollMs = 1000 }: CampaignCacheOptions): Promise<CampaignCache> {
  let byKey = new Map<string, ResolvedCampaign>();
  let byId = new Map<number, ResolvedCampaign>();
  let lastFingerprint = '';
  let loading: Promise<void> | undefined;
  let again = false;

  const load = async () => {
    const fp = await fingerprint(db);
    const list = await loadCampaigns(db);
    byKey = new Map(list.map((c) => [c.key, c]));
    byId = new Map(list.map((c) => [c.id, c]));
    lastFingerprint = fp;
  };
  // Coalesces concurrent refreshes; a request during a load triggers exactly one more load.
  const refresh = (): Promise<void> => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };
  const refreshLogged = () =>
    refresh().catch((err: Error) => log.warn({ err: err.message }, 'campaign cache refresh failed; serving the previous config'));

  await refresh();
  const unsubscribe = await store
    .subscribe(CONFIG_CHANNEL, () => void refreshLogged())
    .catch((err: Error) => {
      log.warn({ err: err.message }, 'campaign cache cannot subscribe to changes; relying on polling');
      return async () => undefined;
    });
  const timer = setInterval(() => {
    fingerprint(db)
      .then((fp) => (fp !== lastFingerprint ? refreshLogged() : undefined))
      .catch((err: Error) => log.debug({ err: err.message }, 'campaign cache poll failed'));
  }, pollMs);
  timer.unref();

  return {
    byKey: (key) => byKey.get(key),
    byId: (id) => byId.get(id),
    refresh,
    async changed() {
      await refresh();
      await store.publish(CONFIG_CHANNEL, String(Date.now())).catch((err: Error) => {
        log.warn({ err: err.message }, 'could not publish a config change; other instances pick it up by polling');
      });
    },
    async close() {
      clearInterval(timer);
      await unsubscribe();
    },
  };
}
