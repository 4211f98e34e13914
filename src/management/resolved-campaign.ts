// The shape /click serves from: a campaign with its traffic source, offers and landers resolved,
// held in memory by the campaign cache and replaced whole when anything it references changes.
import type { Flow, TrafficSourceParam } from '../db/schema.js';

export interface ResolvedOffer {
  id: number;
  name: string;
  url: string;
  /** Decimal string, in `currency`. */
  payout: string;
  currency: string;
  affiliateNetworkId: number | null;
  attributionWindowDays: number;
  allowDuplicates: boolean;
}

export interface ResolvedLander {
  id: number;
  name: string;
  url: string;
  offerCount: number;
}

export interface ResolvedCampaign {
  id: number;
  key: string;
  name: string;
  status: 'active' | 'paused' | 'archived';
  trafficSource: { id: number; name: string; params: TrafficSourceParam[] };
  costModel: 'none' | 'cpc' | 'cpm' | 'cpa' | 'revshare' | 'auto';
  /** Decimal string in ACCOUNT_CURRENCY (cpc/cpm/cpa) or percent (revshare); null for none/auto. */
  costValue: string | null;
  flow: Flow;
  fallbackUrl: string | null;
  redirectMode: '302' | 'meta' | 'doubleMeta';
  forwardPostbacks: boolean;
  /** Every offer and lander the flow references (archived ones too, so old links keep working). */
  offers: ReadonlyMap<number, ResolvedOffer>;
  landers: ReadonlyMap<number, ResolvedLander>;
}

export interface CampaignCache {
  /** Synchronous: /click never waits on the database for campaign config. */
  byKey(key: string): ResolvedCampaign | undefined;
  byId(id: number): ResolvedCampaign | undefined;
  /** Reloads from Postgres now. */
  refresh(): Promise<void>;
  /** After a management write: reload here and tell every other instance to reload. */
  changed(): Promise<void>;
  close(): Promise<void>;
}
