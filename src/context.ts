// What every capability receives: settings, the database, the hot store, a logger, and a
// shutdown list. Plain functions take the parts they need; route plugins take the whole.
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.js';
import type { Database, Db } from './db/client.js';
import type { CampaignCache } from './management/resolved-campaign.js';
import type { Metrics } from './http/metrics.js';
import type { HotStore } from './store/hot-store.js';
import type { VisitRow } from './tracking/hot-click.js';
import type { OfferCaps } from './tracking/offer-caps.js';

/** The write-behind buffer of visits (tracking/); attribution peeks into it for unflushed clicks. */
export interface ClickWriter {
  add(visit: VisitRow): void;
  /** A visit still waiting in this instance's buffer, if any (asynchronous when a recording thread holds the buffer). */
  peek(clickId: string): VisitRow | undefined | Promise<VisitRow | undefined>;
  /** Writes everything buffered now; resolves when it is in Postgres (or spilled). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Lifecycle {
  /** Registers a step for shutdown; steps run in reverse order (last opened, first closed). */
  onShutdown(name: string, step: () => Promise<void> | void): void;
  shutdown(): Promise<void>;
}

export interface AppContext {
  config: Config;
  database: Database;
  db: Db;
  store: HotStore;
  log: FastifyBaseLogger;
  lifecycle: Lifecycle;
  campaigns: CampaignCache;
  /** Each capability adds the totals it keeps; served at /api/metrics. */
  metrics: Metrics;
  /** Set by the tracking plugin. */
  clickWriter?: ClickWriter;
  /** Offers at their daily cap; set by the tracking plugin. */
  offerCaps?: OfferCaps;
}

export function createLifecycle(log: FastifyBaseLogger): Lifecycle {
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  let done: Promise<void> | undefined;
  return {
    onShutdown(name, step) {
      steps.push({ name, step });
    },
    shutdown() {
      done ??= (async () => {
        for (const { name, step } of [...steps].reverse()) {
          try {
            await step();
          } catch (err) {
            log.error({ err, step: name }, 'shutdown step failed');
          }
        }
      })();
      return done;
    },
  };
}
