// One attribution service per app: the settings and rate caches, the record function with its
// dependencies, and the two background workers (pending retries, forward deliveries). Both route
// plugins (root and /api) share it through attributionFor(ctx).
import type { AppContext } from '../context.js';
import { startPeriodic } from '../periodic.js';
import { createRateCache, type RateCache } from './currency.js';
import { createInsertBatcher } from './insert-batcher.js';
import { deliverDue, type DeliveryDeps, type DeliveryRunResult } from './deliveries.js';
import { retryPendingPostbacks, type PendingDeps, type PendingRunResult } from './pending.js';
import { recordConversion, type ConversionInput, type Outcome } from './record.js';
import { createSettingsCache, type SettingsCache } from './settings.js';

export interface AttributionStats {
  outcomes: Record<string, number>;
  workerErrors: number;
  /** Pixel requests that failed for a reason other than bad input (still answered with a GIF). */
  pixelErrors: number;
}

export interface AttributionService {
  settings: SettingsCache;
  rates: RateCache;
  record(input: ConversionInput): Promise<Outcome>;
  /** One pass of each worker now (tests and operators); `now` moves the clock. */
  retryPending(now?: Date): Promise<PendingRunResult>;
  deliver(now?: Date): Promise<DeliveryRunResult>;
  stats: AttributionStats;
}

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
  const stats: AttributionStats = { outcomes: {}, workerErrors: 0, pixelErrors: 0 };
  ctx.metrics.observe('counter', 'conversions_total', 'Postbacks, pixels and uploads by outcome: recorded, duplicate, status_changed, pending, outside_window', () => stats.outcomes, 'outcome');
  ctx.metrics.observe('counter', 'attribution_worker_errors_total', 'Failed passes of the pending-attribution and forwarding workers', () => stats.workerErrors);
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
  };

  const service: AttributionService = {
    settings,
    rates,
    stats,
    async record(input) {
      const out = await recordConversion(pendingDeps(), input);
      stats.outcomes[out.outcome] = (stats.outcomes[out.outcome] ?? 0) + 1;
      return out;
    },
    retryPending: (now) => retryPendingPostbacks(pendingDeps(), now),
    deliver: (now) => deliverDue(deliveryDeps, now),
  };

  if (config.POSTBACK_WORKER_MS > 0) {
    const onError = () => void stats.workerErrors++;
    startPeriodic(ctx, { name: 'pending postbacks worker', everyMs: config.POSTBACK_WORKER_MS, run: () => service.retryPending(), onError });
    startPeriodic(ctx, { name: 'postback forwarding worker', everyMs: config.POSTBACK_WORKER_MS, run: () => service.deliver(), onError });
  }
  return service;
}
