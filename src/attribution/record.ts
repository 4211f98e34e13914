// Records a conversion: find the click, check the network's secret and IPs, map the status,
// convert the payout, then one INSERT ... ON CONFLICT DO NOTHING on (click_id, type, txid), so
// the unique index (not a check in code) decides what is a duplicate, whatever the concurrency.
// A known conversion with a new status is a plain UPDATE; the database keeps the status history.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { ClickWriter } from '../context.js';
import { rows, type Db } from '../db/client.js';
import { conversions, pendingPostbacks, type ConversionStatus } from '../db/schema.js';
import { badRequest, forbidden } from '../http/errors.js';
import type { HotStore } from '../store/hot-store.js';
import type { RateCache } from './currency.js';
import { fitsMoney, normalizeMoney, percentOf } from './decimal.js';
import { findClick, type ClickRecord } from './find-click.js';
import { insertConversions, type InsertBatcher } from './insert-batcher.js';
import { forwardUrlFor } from './forward-url.js';
import { mapStatus, type PostbackParams } from './params.js';
import type { SettingsCache } from './settings.js';

export type ConversionSource = 'postback' | 'pixel' | 'upload';

export interface RecordDeps {
  db: Db;
  store: HotStore;
  clickWriter?: ClickWriter;
  settings: SettingsCache;
  rates: RateCache;
  accountCurrency: string;
  log: FastifyBaseLogger;
  /** Group commit for new conversions; without it each is inserted on its own. */
  batcher?: InsertBatcher;
}

export interface ConversionInput {
  params: PostbackParams;
  source: ConversionSource;
  /** The postback time (an upload may set one in the past). */
  convertedAt: Date;
  /** When it was received, if not now (the pending worker's retries). */
  receivedAt?: Date;
  /** The caller's address, for the network's allowedIps. */
  sourceIp?: string;
  /** sha256 of the secret presented earlier, when retrying a pending postback. */
  secretHash?: string | null;
  /** Refuse clicks older than the offer's attribution window (cookie conversions). */
  enforceWindow?: boolean;
}

export type Outcome =
  | { outcome: 'recorded'; conversionId: number; status: ConversionStatus }
  | { outcome: 'duplicate'; conversionId: number; status: ConversionStatus }
  | { outcome: 'status_changed'; conversionId: number; status: ConversionStatus; previousStatus: ConversionStatus }
  /** Same status, another payout: the network (or an upload) corrected the amount. */
  | { outcome: 'payout_changed'; conversionId: number; status: ConversionStatus; previousPayout: string }
  | { outcome: 'pending'; pendingId: number }
  | { outcome: 'outside_window' }
  /** Postgres was away: kept on disk (postback-spill.ts) and recorded once it is back. */
  | { outcome: 'queued' };

/** What recording against Postgres answers (queueing is the service's, around it). */
export type RecordedOutcome = Exclude<Outcome, { outcome: 'queued' }>;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time: both sides are hashed first, so neither the length nor the content leaks. */
export function secretMatches(expected: string, presented: string | undefined, presentedHash?: string | null): boolean {
  const want = sha256(expected);
  let got: Buffer;
  if (presented !== undefined) got = sha256(presented);
  else if (presentedHash && /^[0-9a-f]{64}$/.test(presentedHash)) got = Buffer.from(presentedHash, 'hex');
  else got = Buffer.alloc(32);
  return timingSafeEqual(want, got);
}

export const hashSecret = (secret: string) => sha256(secret).toString('hex');

/** The sha256 of the secret this input presented (kept instead of the secret when it must wait). */
export const presentedSecretHash = (input: Pick<ConversionInput, 'params' | 'secretHash'>) =>
  input.params.secret !== undefined ? hashSecret(input.params.secret) : (input.secretHash ?? null);

const UPLOAD_CLOCK_SKEW_MS = 5 * 60_000;

const statusField = (params: PostbackParams) => params.names.status ?? 'status';
const payoutField = (params: PostbackParams) => params.names.payout ?? 'payout';

/** Finds the click and records; a click that is not visible yet is kept in pending_postbacks. */
export async function recordConversion(deps: RecordDeps, input: ConversionInput): Promise<RecordedOutcome> {
  const { params } = input;
  if (!params.clickId) throw badRequest('cid', 'a click ID is required (cid, clickid, click_id, subid or cnv_id)');
  const found = await findClick(deps, params.clickId);
  if (found) return attributeToClick(deps, found.click, input);

  // Without the click there is no network to check against yet; what can be refused now is.
  if (params.currency && (await deps.rates.toAccount('0', params.currency)) === undefined) {
    throw badRequest('currency', `no rate is set for ${params.currency}; set one in /api/currency-rates`);
  }
  if (mapStatus(params.status) === undefined && input.source !== 'postback') {
    throw badRequest(statusField(params), `unknown status "${params.status}"`);
  }
  const [row] = await deps.db
    .insert(pendingPostbacks)
    .values({
      clickId: params.clickId,
      receivedAt: input.receivedAt ?? new Date(),
      rawParams: params.raw,
      sourceIp: input.sourceIp ?? null,
      source: input.source,
      secretHash: presentedSecretHash(input),
      nextAttemptAt: new Date(Date.now() + 5000),
    })
    .returning({ id: pendingPostbacks.id });
  return { outcome: 'pending', pendingId: row.id };
}

async function lookup<T>(deps: RecordDeps, pick: (s: ReturnType<SettingsCache['current']>) => T | undefined): Promise<T | undefined> {
  const hit = pick(deps.settings.current());
  if (hit !== undefined) return hit;
  // An id never seen: the row may be seconds old. One reload, then take the answer as it is.
  return pick(await deps.settings.refresh());
}

/** Records a conversion for a known click (also the pending worker's entry point). */
export async function attributeToClick(deps: RecordDeps, click: ClickRecord, input: ConversionInput): Promise<RecordedOutcome> {
  const { params } = input;
  const offer = click.offerId != null ? await lookup(deps, (s) => s.offers.get(click.offerId!)) : undefined;
  const campaign = await lookup(deps, (s) => s.campaigns.get(click.campaignId));
  const networkId = offer?.affiliateNetworkId ?? click.affiliateNetworkId;
  const network = networkId != null ? await lookup(deps, (s) => s.networks.get(networkId)) : undefined;

  // Pixels fire from the visitor's browser (a secret there is public) and uploads carry an API
  // key, so the network's secret and IP list guard server-to-server postbacks only.
  if (input.source === 'postback' && network) {
    if (network.postbackSecret && !secretMatches(network.postbackSecret, params.secret, input.secretHash)) {
      throw forbidden('wrong or missing postback secret');
    }
    if (network.allowedIps.length > 0 && !(input.sourceIp && network.ipAllowed(input.sourceIp))) {
      throw forbidden(`postbacks from ${input.sourceIp ?? 'this address'} are not allowed for this affiliate network`);
    }
  }
  // An uploaded time before its visit is a typo (a wrong year, a day-first date), not a conversion:
  // recorded, it would put the money on a day before the click in postback-time reports. A few
  // minutes are allowed for the clocks of the network and this server disagreeing, and a whole
  // day for a time at UTC midnight: that is what a date-only `time` (2026-01-31) reads as, and
  // it says "that day", not "before the click" (the rule keeps across a pending retry, which
  // stores the instant only).
  if (input.source === 'upload') {
    const at = input.convertedAt.getTime();
    const tolerance = UPLOAD_CLOCK_SKEW_MS + (at % 86_400_000 === 0 ? 86_400_000 : 0);
    if (at < click.visitedAt.getTime() - tolerance) {
      throw badRequest('time', `time ${input.convertedAt.toISOString()} is before the visit (${click.visitedAt.toISOString()})`);
    }
  }
  if (input.enforceWindow) {
    const windowDays = offer?.attributionWindowDays ?? 30;
    if (input.convertedAt.getTime() - click.visitedAt.getTime() > windowDays * 86_400_000) return { outcome: 'outside_window' };
  }

  const status = mapStatus(params.status, network?.statusMap);
  if (!status) throw badRequest(statusField(params), `unknown status "${params.status}"; add it to the affiliate network's statusMap`);

  // A payout without a currency is in the offer's currency: that is what the network pays in.
  const amount = params.payout ?? offer?.payout ?? '0';
  const currency = (params.payout !== undefined ? params.currency : undefined) ?? offer?.currency ?? deps.accountCurrency;
  const payout = await deps.rates.toAccount(amount, currency);
  if (payout === undefined) throw badRequest(params.currency ? 'currency' : payoutField(params), `no rate is set for ${currency}; set one in /api/currency-rates`);
  // A currency sent without a payout does not apply (the offer's payout is in the offer's
  // currency), but one with no rate is refused as it is for an unknown click: a 400 either way.
  if (params.currency && params.payout === undefined && params.currency !== currency && (await deps.rates.toAccount('0', params.currency)) === undefined) {
    throw badRequest('currency', `no rate is set for ${params.currency}; set one in /api/currency-rates`);
  }
  const originalPayout = normalizeMoney(amount);
  // 12 digits pass the parser, but a rate above 1 (or rounding 999999999999.9999999 up) can take
  // the amount past numeric(18, 6): refused here rather than a 500 from the insert.
  if (!fitsMoney(payout) || !fitsMoney(originalPayout)) {
    throw badRequest(payoutField(params), `${payoutField(params)}: ${fitsMoney(originalPayout) ? `${payout} ${deps.accountCurrency}` : `${originalPayout} ${currency}`} is more than a payout can hold`);
  }
  const cost = conversionCost(campaign, status, payout);
  const txid = params.txid ?? (offer?.allowDuplicates ? `auto-${randomUUID()}` : '');

  const forward = forwardUrl(deps, click, campaign, { txid, type: params.type, status, payout });
  const values = {
    clickId: click.clickId,
    type: params.type,
    txid,
    status,
    payout,
    originalPayout,
    originalCurrency: currency,
    cost,
    visitedAt: click.visitedAt,
    convertedAt: input.convertedAt,
    statusReceivedAt: input.receivedAt ?? null,
    campaignId: click.campaignId,
    trafficSourceId: click.trafficSourceId,
    offerId: click.offerId,
    landerId: click.landerId,
    affiliateNetworkId: networkId ?? null,
    ruleIndex: click.ruleIndex,
    pathIndex: click.pathIndex,
    pathName: click.pathName,
    country: click.country,
    device: click.device,
    os: click.os,
    browser: click.browser,
    language: click.language,
    isBot: click.isBot,
    tsCampaign: click.tsCampaign,
    tsAdset: click.tsAdset,
    tsAd: click.tsAd,
    tsPlacement: click.tsPlacement,
    externalId: click.externalId,
    params: click.params,
    postbackParams: params.raw,
  };

  for (let attempt = 0; attempt < 3; attempt++) {
    const req = { values, forward: forward ? { url: forward, trafficSourceId: click.trafficSourceId } : null };
    const insertedId = deps.batcher ? await deps.batcher.insert(req) : (await insertConversions(deps.db, [req]))[0];
    if (insertedId !== null) return { outcome: 'recorded', conversionId: insertedId, status };

    const [existing] = await deps.db
      .select({
        id: conversions.id,
        status: conversions.status,
        payout: conversions.payout,
        originalPayout: conversions.originalPayout,
        originalCurrency: conversions.originalCurrency,
        statusSince: sql<string>`coalesce(${conversions.statusReceivedAt}, ${conversions.updatedAt})`,
      })
      .from(conversions)
      .where(and(eq(conversions.clickId, click.clickId), eq(conversions.type, params.type), eq(conversions.txid, txid)));
    if (!existing) continue;
    // Another amount for the same transaction (its txid), or in an upload (the correction channel),
    // corrects the payout; without a txid a repeat stays a duplicate, whatever it says. Compared as
    // sent (amount and currency), not converted: a retry in EUR after the rate moved is a retry.
    const corrected =
      params.payout !== undefined &&
      (txid !== '' || input.source === 'upload') &&
      (normalizeMoney(existing.originalPayout) !== originalPayout || existing.originalCurrency !== currency);
    if (existing.status === status && !corrected) return { outcome: 'duplicate', conversionId: existing.id, status };
    // A pixel fires from the visitor's browser, where its click ID and any secret are public: it
    // may add a conversion, never reverse, re-approve or re-price one the network reported.
    if (input.source === 'pixel') return { outcome: 'duplicate', conversionId: existing.id, status: existing.status };
    // Recorded late (a pending retry, a spill replay), a postback older than the one behind the
    // current status is history: applying it would turn a chargeback that arrived meanwhile back
    // into an approval.
    if (input.receivedAt && new Date(existing.statusSince).getTime() > input.receivedAt.getTime()) {
      deps.log.warn({ clickId: click.clickId, type: params.type, txid, status, currentStatus: existing.status, receivedAt: input.receivedAt.toISOString(), statusSince: existing.statusSince }, 'postback older than the conversion\'s current status: not applied');
      return { outcome: 'duplicate', conversionId: existing.id, status: existing.status };
    }
    // A status change, or (same status) a corrected amount: one update, from the row just read, so
    // two concurrent changes cannot both apply. Only a status change is forwarded: a second forward
    // of the same status would count twice at the traffic source.
    const statusChanged = existing.status !== status;
    // A decline without a payout keeps the amount it reverses; reports leave declined out. Read
    // back from numeric (13.750000), it is made canonical as a new conversion's is: the forward's
    // {payout} must not change spelling with the status.
    const newPayout = params.payout !== undefined ? payout : normalizeMoney(existing.payout);
    // A new payout comes with its own currency: the original amount shown must be the one paid.
    const original = params.payout !== undefined ? { originalPayout, originalCurrency: currency } : {};
    const unchangedSinceRead = and(
      eq(conversions.id, existing.id),
      eq(conversions.status, existing.status),
      ...(statusChanged ? [] : [eq(conversions.originalPayout, existing.originalPayout), eq(conversions.originalCurrency, existing.originalCurrency)]),
    );
    const changed = await deps.db.transaction(async (tx) => {
      const [row] = await tx
        .update(conversions)
        .set({ status, payout: newPayout, ...original, cost: conversionCost(campaign, status, newPayout), updatedAt: sql`now()`, statusReceivedAt: input.receivedAt ?? null })
        .where(unchangedSinceRead)
        .returning({ id: conversions.id });
      const url = row && statusChanged && forwardUrl(deps, click, campaign, { txid, type: params.type, status, payout: newPayout });
      if (row && url) await enqueueDelivery(tx as unknown as Db, row.id, click.trafficSourceId, url);
      return row;
    });
    if (!changed) continue;
    if (!statusChanged) return { outcome: 'payout_changed', conversionId: existing.id, status, previousPayout: normalizeMoney(existing.payout) };
    return { outcome: 'status_changed', conversionId: existing.id, status, previousStatus: existing.status };
  }
  throw new Error(`conversion for click ${click.clickId} kept changing under us`);
}

/** cpa books its value per approved conversion; revshare a percent of the approved payout. */
export function conversionCost(campaign: { costModel: string; costValue: string | null } | undefined, status: ConversionStatus, payout: string): string {
  if (!campaign?.costValue || status !== 'approved') return '0';
  if (campaign.costModel === 'cpa') return normalizeMoney(campaign.costValue);
  if (campaign.costModel === 'revshare') return percentOf(payout, campaign.costValue);
  return '0';
}

function forwardUrl(
  deps: RecordDeps,
  click: ClickRecord,
  campaign: { forwardPostbacks: boolean; name: string } | undefined,
  c: { txid: string; type: string; status: ConversionStatus; payout: string },
): string | null {
  return forwardUrlFor(deps.settings.current().trafficSources.get(click.trafficSourceId), campaign, click, c, deps.accountCurrency);
}

/**
 * Queues the forward of a status change. The same URL for the same conversion is one row (a
 * unique index), so a status changed back (approved -> declined -> approved) meets the row that
 * forwarded it before: that row is sent again, after the forwards queued since (its created_at
 * moves to now, the order deliverDue keeps), since the traffic source's last word is now another
 * URL. A row that is still the conversion's latest forward is left alone: a template without
 * {status} fills approved and declined alike, and the traffic source must not count it twice.
 */
async function enqueueDelivery(db: Db, conversionId: number, trafficSourceId: number, url: string): Promise<void> {
  const entry = JSON.stringify({ at: new Date().toISOString(), event: 'requeued' });
  await rows(
    db,
    sql`insert into postback_deliveries (conversion_id, traffic_source_id, url) values (${conversionId}, ${trafficSourceId}, ${url})
        on conflict (conversion_id, url) do update
          set state = 'pending', attempts = 0, next_attempt_at = now(), last_status_code = null, last_error = null,
            created_at = now(), updated_at = now(),
            log = postback_deliveries.log || jsonb_build_array(${entry}::jsonb || jsonb_build_object('previousUrl', postback_deliveries.url))
          where exists (
            select 1 from postback_deliveries later
            where later.conversion_id = postback_deliveries.conversion_id and later.id <> postback_deliveries.id
              and (later.created_at, later.id) > (postback_deliveries.created_at, postback_deliveries.id))`,
  );
}
