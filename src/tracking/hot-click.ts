// The hot click record: what attribution and the lander click-through need about a visit, kept
// in the hot store (Redis) for the attribution window so a conversion never waits for Postgres.
import type { HotStore, SetAndClaim } from '../store/hot-store.js';
import type { VisitParamRole, visits } from '../db/schema.js';

/**
 * A visit as the tracker builds it: `params` holds every query parameter and `userAgent` the
 * text. The click writer stores it narrower (see visits in schema.ts); the hashes are its business.
 */
export type VisitRow = Omit<typeof visits.$inferInsert, 'userAgentHash' | 'paramRolesHash'> & {
  userAgent?: string | null;
  /** Role -> the query parameter its column's value came from; stored once, in the role column. */
  paramRoles?: Partial<Record<VisitParamRole, string>> | null;
};

export type HotClick = Required<
  Pick<
    VisitRow,
    | 'clickId'
    | 'campaignId'
    | 'trafficSourceId'
    | 'ruleIndex'
    | 'pathIndex'
    | 'pathName'
    | 'landerId'
    | 'offerId'
    | 'affiliateNetworkId'
    | 'tsCampaign'
    | 'tsAdset'
    | 'tsAd'
    | 'tsPlacement'
    | 'externalId'
    | 'params'
    | 'country'
    | 'device'
    | 'os'
    | 'browser'
    | 'language'
    | 'isBot'
    | 'cost'
  >
> & {
  /** ISO 8601; JSON has no dates. */
  visitedAt: string;
};

export const hotClickKey = (clickId: string) => `click:${clickId}`;

export function toHotClick(v: VisitRow): HotClick {
  return {
    clickId: v.clickId,
    visitedAt: v.visitedAt.toISOString(),
    campaignId: v.campaignId,
    trafficSourceId: v.trafficSourceId,
    ruleIndex: v.ruleIndex ?? -1,
    pathIndex: v.pathIndex ?? 0,
    pathName: v.pathName ?? null,
    landerId: v.landerId ?? null,
    offerId: v.offerId ?? null,
    affiliateNetworkId: v.affiliateNetworkId ?? null,
    tsCampaign: v.tsCampaign ?? null,
    tsAdset: v.tsAdset ?? null,
    tsAd: v.tsAd ?? null,
    tsPlacement: v.tsPlacement ?? null,
    externalId: v.externalId ?? null,
    params: v.params ?? {},
    country: v.country ?? null,
    device: v.device ?? null,
    os: v.os ?? null,
    browser: v.browser ?? null,
    language: v.language ?? null,
    isBot: v.isBot ?? false,
    cost: v.cost ?? '0',
  };
}

export async function saveHotClick(store: HotStore, click: HotClick, ttlSeconds: number): Promise<void> {
  await store.set(hotClickKey(click.clickId), JSON.stringify(click), ttlSeconds);
}

/** The hot record, or null when absent, expired, or the store is unreachable (callers fall back to Postgres). */
export async function loadHotClick(store: HotStore, clickId: string): Promise<HotClick | null> {
  try {
    const raw = await store.get(hotClickKey(clickId));
    return raw ? (JSON.parse(raw) as HotClick) : null;
  } catch {
    return null;
  }
}

export interface HotVisitWriterOptions {
  /** The claim's answer for one visit: true when its unique-visit marker was new. */
  onClaimed(clickId: string, first: boolean): void;
  /** The store failed for these visits (neither the hot record nor the marker is known to be set). */
  onFailed(clickIds: readonly string[], err: Error): void;
  /** Entries per store call; a turn with more visits makes several calls. */
  maxBatch?: number;
}

export interface HotVisitWriter {
  /** Queues the hot record and unique-visit marker of a visit; the answer comes through the options' callbacks. */
  add(clickId: string, entry: SetAndClaim): void;
}

/**
 * Gathers the hot-record writes of one event-loop turn into one `setAndClaim` call (one Redis
 * round trip and one script run for every visit of the turn). Callbacks instead of a promise per
 * visit: nothing on the hot path allocates a promise or waits for the store.
 */
export function createHotVisitWriter(store: HotStore, opts: HotVisitWriterOptions): HotVisitWriter {
  const maxBatch = opts.maxBatch ?? 500;
  let entries: SetAndClaim[] = [];
  let ids: string[] = [];
  let scheduled = false;
  const send = (batch: SetAndClaim[], batchIds: string[]) => {
    store.setAndClaim(batch).then(
      (claimed) => {
        for (let i = 0; i < batchIds.length; i++) opts.onClaimed(batchIds[i], claimed[i] ?? true);
      },
      (err: Error) => opts.onFailed(batchIds, err),
    )
      // Only a throwing callback gets here; releasing a visit twice is harmless.
      .catch((err: Error) => opts.onFailed(batchIds, err));
  };
  const flush = () => {
    scheduled = false;
    const batch = entries;
    const batchIds = ids;
    entries = [];
    ids = [];
    for (let i = 0; i < batch.length; i += maxBatch) {
      if (batch.length <= maxBatch) send(batch, batchIds);
      else send(batch.slice(i, i + maxBatch), batchIds.slice(i, i + maxBatch));
    }
  };
  return {
    add(clickId, entry) {
      entries.push(entry);
      ids.push(clickId);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
