// One attribution service per app: the settings and rate caches, the record function with its
// dependencies, the postback spill, and the background workers (pending retries, forward
// deliveries, the spill's replay). Both route plugins (root and /api) share it through
// attributionFor(ctx).
import { join } from 'node:path';
import type { AppContext } from '../context.js';
import { errorMessage, isUnavailable } from '../db/errors.js';
import { ApiError } from '../http/errors.js';
import { startPeriodic } from '../periodic.js';
import { createRateCache, type RateCache } from './currency.js';
import { createInsertBatcher } from './insert-batcher.js';
import { deliverDue, type DeliveryDeps, type DeliveryRunResult } from './deliveries.js';
import { parsePostbackParams } from './params.js';
import { retryPendingPostbacks, type PendingDeps, type PendingRunResult } from './pending.js';
import { createPostbackSpill, type PostbackSpill, type SpilledPostback } from './postback-spill.js';
import { presentedSecretHash, recordConversion, type ConversionInput, type Outcome } from './record.js';
import { createSettingsCache, type SettingsCache } from './settings.js';

export interface AttributionStats {
  outcomes: Record<string, number>;
  workerErrors: number;
  /** Pixel requests that failed for a reason other than bad input (still answered with a GIF). */
  pixelErrors: number;
  /** Forward attempts made by this instance, by what came of them. */
  forwards: DeliveryRunResult;
}

export interface AttributionService {
  settings: SettingsCache;
  rates: RateCache;
  record(input: ConversionInput): Promise<Outcome>;
  /** One pass of each worker now (tests and operators); `now` moves the clock. */
  retryPending(now?: Date): Promise<PendingRunResult>;
  deliver(now?: Date): Promise<DeliveryRunResult>;
  /** Records what waits in the postback spill, oldest first, while Postgres takes it. */
  replaySpill(): Promise<{ replayed: number; left: number }>;
  spill: PostbackSpill;
  stats: AttributionStats;
}

const toSpilled = (input: ConversionInput): SpilledPostback => ({
  raw: input.params.raw,
  clickId: input.params.clickId,
  source: input.source,
  convertedAt: input.convertedAt.toISOString(),
  receivedAt: (input.receivedAt ?? input.convertedAt).toISOString(),
  sourceIp: input.sourceIp ?? null,
  secretHash: presentedSecretHash(input),
  enforceWindow: input.enforceWindow ?? false,
});

const fromSpilled = (e: SpilledPostback): ConversionInput => ({
  // A cookie pixel's click ID is not among its parameters: without it the replay was refused.
  params: { ...parsePostbackParams(e.raw), ...(e.clickId ? { clickId: e.clickId } : {}) },
  source: e.source,
  convertedAt: new Date(e.convertedAt),
  receivedAt: new Date(e.receivedAt),
  sourceIp: e.sourceIp ?? undefined,
  secretHash: e.secretHash,
  enforceWindow: e.enforceWindow,
});

const services = new WeakMap<AppContext, Promise<AttributionService>>();

export function attributionFor(ctx: AppContext): Promise<AttributionService> {
  let s = services.get(ctx);
  if (!s) {
    s = createAttributionService(ctx);
    services.set(ctx, s);
  }
  return s;
}

async function createAttributionService(ctx: AppContext): Promise<AttributionService> {
  const { config, db, store, log } = ctx;
  const settings = await createSettingsCache({ db, store, log });
  ctx.lifecycle.onShutdown('attribution settings', () => settings.close());
  const rates = await createRateCache({ db, store, log, accountCurrency: config.ACCOUNT_CURRENCY });
  ctx.lifecycle.onShutdown('currency rates', () => rates.close());

  const batcher = createInsertBatcher(db, { maxInFlight: config.POSTBACK_INSERTS_IN_FLIGHT });
  // Runs before the database closes (steps run in reverse): queued postbacks still get their row.
  ctx.lifecycle.onShutdown('conversion inserts', () => batcher.drain());
  const stats: AttributionStats = { outcomes: {}, workerErrors: 0, pixelErrors: 0, forwards: { delivered: 0, retrying: 0, failed: 0 } };
  ctx.metrics.observe('counter', 'conversions_total', 'Postbacks, pixels and uploads by outcome: recorded, duplicate, status_changed, payout_changed, pending, outside_window, queued (kept while Postgres was away; counted again under its outcome once recorded)', () => stats.outcomes, 'outcome');
  ctx.metrics.observe('counter', 'attribution_worker_errors_total', 'Failed passes of the pending-attribution and forwarding workers', () => stats.workerErrors);
  // Every outcome from the start (at 0): a rate() over a series that appears only on its first
  // failure misses that failure.
  ctx.metrics.observe('counter', 'postback_forwards_total', 'Forward attempts to traffic sources by outcome: delivered, retrying (failed, will be tried again), failed (given up)', () => ({ ...stats.forwards }), 'outcome');
  ctx.metrics.observe('counter', 'pixel_errors_total', 'Pixel requests that failed for a reason other than bad input (still answered with the GIF)', () => stats.pixelErrors);
  // clickWriter is read on each call: the tracking plugin may set it after this service exists.
  const pendingDeps = (): PendingDeps => ({
    db,
    store,
    clickWriter: ctx.clickWriter,
    batcher,
    settings,
    rates,
    accountCurrency: config.ACCOUNT_CURRENCY,
    log,
    retryMinutes: config.ATTRIBUTION_RETRY_MINUTES,
  });
  const deliveryDeps: DeliveryDeps = {
    db,
    log,
    outbound: { allowPrivate: config.OUTBOUND_ALLOW_PRIVATE, timeoutMs: config.OUTBOUND_TIMEOUT_MS },
    totals: stats.forwards,
  };

  const spill = await createPostbackSpill({ dir: config.POSTBACK_SPILL_DIR ?? join(config.TRACKLANE_DATA_DIR, 'postback-spill'), log });
  ctx.lifecycle.onShutdown('postback spill', () => spill.close());
  const spillStat = (pick: (s: ReturnType<PostbackSpill['stats']>) => number) => () => pick(spill.stats());
  ctx.metrics.observe('gauge', 'postback_spill_backlog', 'Postbacks kept on disk while Postgres was away, not recorded yet', spillStat((s) => s.backlog));
  ctx.metrics.observe('counter', 'postback_spill_queued_total', 'Postbacks answered 200 and kept on disk because Postgres was away', spillStat((s) => s.queued));
  ctx.metrics.observe('counter', 'postback_spill_replayed_total', 'Kept postbacks recorded since (or refused for good)', spillStat((s) => s.replayed));
  ctx.metrics.observe('counter', 'postback_spill_dead_letter_total', 'Kept postbacks set aside in dead-letter.ndjson after failing for another reason', spillStat((s) => s.deadLettered));
  const count = (out: Outcome) => {
    stats.outcomes[out.outcome] = (stats.outcomes[out.outcome] ?? 0) + 1;
    return out;
  };
  // Uploads carry an API key and get an answer per row: a 503 tells the caller to send them again.
  const spillable = (input: ConversionInput) => input.source !== 'upload';
  const queue = async (input: ConversionInput): Promise<Outcome> => {
    await spill.append(toSpilled(input));
    return { outcome: 'queued' };
  };

  const service: AttributionService = {
    settings,
    rates,
    stats,
    spill,
    async record(input) {
      // Behind what already waits, so a reversal is never applied before the approval it reverses.
      if (spillable(input) && spill.waiting()) return count(await queue(input));
      try {
        return count(await recordConversion(pendingDeps(), input));
      } catch (err) {
        if (!spillable(input) || !isUnavailable(err)) throw err;
        // errorMessage: the failed statement's parameters are the postback's, secret included.
        const out = count(await queue(input));
        log.warn({ err: errorMessage(err), clickId: input.params.clickId }, 'Postgres is away: postback kept on disk, recorded once it is back');
        return out;
      }
    },
    retryPending: (now) => retryPendingPostbacks(pendingDeps(), now),
    deliver: (now) => deliverDue(deliveryDeps, now),
    async replaySpill() {
      let total = { replayed: 0, left: spill.stats().backlog };
      // Pass after pass while it moves: postbacks arriving meanwhile queue behind, in a new file.
      while (total.left > 0) {
        const r = await spill.replay(async (entry) => {
          const input = fromSpilled(entry);
          try {
            count(await recordConversion(pendingDeps(), input));
            return 'done';
          } catch (err) {
            if (isUnavailable(err)) return 'retry';
            if (!(err instanceof ApiError)) throw err;
            // A wrong secret or an unknown status: refused now as it would have been then.
            log.warn({ clickId: input.params.clickId, reason: err.message }, 'kept postback refused');
            return 'done';
          }
        });
        total = { replayed: total.replayed + r.replayed, left: r.left };
        if (r.replayed === 0) break;
      }
      return total;
    },
  };

  const onError = () => void stats.workerErrors++;
  if (config.POSTBACK_WORKER_MS > 0) {
    startPeriodic(ctx, { name: 'pending postbacks worker', everyMs: config.POSTBACK_WORKER_MS, run: () => service.retryPending(), onError });
    startPeriodic(ctx, { name: 'postback forwarding worker', everyMs: config.POSTBACK_WORKER_MS, run: () => service.deliver(), onError });
  }
  // Apart from the workers above (which another instance may run instead): only this instance can
  // replay its spill, and while anything waits there every new postback queues behind it. Also
  // replays what an earlier run left: the first pass comes one interval after start.
  if (config.POSTBACK_SPILL_REPLAY_MS > 0) {
    const replay = async () => {
      if (spill.waiting()) await service.replaySpill();
    };
    startPeriodic(ctx, { name: 'postback spill replay', everyMs: config.POSTBACK_SPILL_REPLAY_MS, run: replay, onError });
  }
  return service;
}
