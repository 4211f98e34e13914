// What a postback needs to know about campaigns, offers, traffic sources and affiliate networks,
// held in memory. The campaign cache serves /click with servable campaigns only; a conversion can
// arrive for an archived campaign or offer weeks later, and needs the networks' secrets and IP
// lists, so this keeps every row of these small tables. Reloaded on the config-changed message,
// on a fingerprint poll, and at once when a postback names an id it has not seen yet.
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import { affiliateNetworks, campaigns, offers, trafficSources, type ConversionStatus } from '../db/schema.js';
import { cidrMatcher } from '../http/ip.js';
import { createConfigSnapshot } from '../management/config-snapshot.js';
import type { HotStore } from '../store/hot-store.js';

export interface OfferSettings {
  id: number;
  payout: string;
  currency: string;
  affiliateNetworkId: number | null;
  attributionWindowDays: number;
  allowDuplicates: boolean;
}

export interface CampaignSettings {
  id: number;
  name: string;
  costModel: string;
  costValue: string | null;
  forwardPostbacks: boolean;
}

export interface TrafficSourceSettings {
  id: number;
  postbackUrl: string | null;
  postbackStatuses: string[];
}

export interface NetworkSettings {
  id: number;
  postbackSecret: string | null;
  allowedIps: string[];
  /** Compiled allowedIps; only consulted when the list is not empty. */
  ipAllowed: (ip: string) => boolean;
  statusMap: Record<string, ConversionStatus>;
}

export interface Settings {
  offers: Map<number, OfferSettings>;
  campaigns: Map<number, CampaignSettings>;
  trafficSources: Map<number, TrafficSourceSettings>;
  networks: Map<number, NetworkSettings>;
}

export interface SettingsCache {
  current(): Settings;
  /** Reloads now (coalesced); used when an id is missing, so a brand-new offer is seen at once. */
  refresh(): Promise<Settings>;
  close(): Promise<void>;
}

export async function loadSettings(db: Db, log?: FastifyBaseLogger): Promise<Settings> {
  const [o, c, t, n] = await Promise.all([
    db.select({
      id: offers.id,
      payout: offers.payout,
      currency: offers.currency,
      affiliateNetworkId: offers.affiliateNetworkId,
      attributionWindowDays: offers.attributionWindowDays,
      allowDuplicates: offers.allowDuplicates,
    }).from(offers),
    db.select({
      id: campaigns.id,
      name: campaigns.name,
      costModel: campaigns.costModel,
      costValue: campaigns.costValue,
      forwardPostbacks: campaigns.forwardPostbacks,
    }).from(campaigns),
    db.select({ id: trafficSources.id, postbackUrl: trafficSources.postbackUrl, postbackStatuses: trafficSources.postbackStatuses }).from(trafficSources),
    db.select({
      id: affiliateNetworks.id,
      postbackSecret: affiliateNetworks.postbackSecret,
      allowedIps: affiliateNetworks.allowedIps,
      statusMap: affiliateNetworks.statusMap,
    }).from(affiliateNetworks),
  ]);
  return {
    offers: new Map(o.map((r) => [r.id, r])),
    campaigns: new Map(c.map((r) => [r.id, r])),
    trafficSources: new Map(t.map((r) => [r.id, r])),
    networks: new Map(
      n.map((r) => {
        let ipAllowed: (ip: string) => boolean;
        try {
          ipAllowed = cidrMatcher(r.allowedIps);
        } catch (err) {
          // Management validates the list; should a bad one get in, nobody passes (fail closed).
          log?.error({ networkId: r.id, err: (err as Error).message }, 'affiliate network has an invalid allowedIps entry; refusing its postbacks');
          ipAllowed = () => false;
        }
        return [r.id, { ...r, ipAllowed }];
      }),
    ),
  };
}

export async function createSettingsCache({ db, store, log, pollMs = 2000 }: { db: Db; store: HotStore; log: FastifyBaseLogger; pollMs?: number }): Promise<SettingsCache> {
  const snapshot = await createConfigSnapshot({ name: 'attribution settings', db, store, log, pollMs, load: (d) => loadSettings(d, log) });
  return { current: snapshot.current, refresh: snapshot.refresh, close: snapshot.close };
}
