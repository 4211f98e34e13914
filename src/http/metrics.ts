// Prometheus metrics at GET /api/metrics (API key, e.g. `authorization: Bearer KEY` in the scrape
// config). prom-client (Apache-2.0, the Node client Prometheus's own docs list) writes the exposition
// format and the standard process metrics (CPU, memory, event-loop lag, GC) that dashboards expect
// by name; our own values are read at scrape time from the totals each capability already keeps
// (tracking counters, click writer stats, postback outcomes, rollup folds), so nothing is added to
// the /click or /postback path.
import type { FastifyPluginAsync } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

type Reading = number | Record<string, number>;

export interface Metrics {
  /**
   * A value read when scraped: a running total (`counter`) or a level (`gauge`). A reading keyed by
   * name becomes one series per key under `label`.
   */
  observe(kind: 'counter' | 'gauge', name: string, help: string, read: () => Reading, label?: string): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ text: string; contentType: string }>;
}

// Process metrics once per process: each call of collectDefaultMetrics starts its own event-loop
// monitor and GC observer, and tests build many apps in one process.
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  return {
    observe(kind, name, help, read, label) {
      const fullName = `tracklane_${name}`;
      const labelNames = label ? [label] : [];
      const set = (metric: Counter | Gauge) => {
        metric.reset();
        const value = read();
        if (typeof value === 'number') return void (metric instanceof Counter ? metric.inc(value) : metric.set(value));
        for (const [key, v] of Object.entries(value)) {
          if (metric instanceof Counter) metric.inc({ [label ?? 'key']: key }, v);
          else metric.set({ [label ?? 'key']: key }, v);
        }
      };
      if (kind === 'counter') {
        new Counter({ name: fullName, help, labelNames, registers: [registry], collect() { set(this); } });
      } else {
        new Gauge({ name: fullName, help, labelNames, registers: [registry], collect() { set(this); } });
      }
    },
    async scrape() {
      const merged = Registry.merge([processMetrics(), registry]);
      return { text: await merged.metrics(), contentType: merged.contentType };
    },
  };
}

export const metricsRoutes: FastifyPluginAsync<{ metrics: Metrics }> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics: visits, click writer, postback outcomes, rollup folds, and the process',
        description: 'Text exposition format. Scrape with the API key, e.g. `authorization: { credentials: KEY }` in the Prometheus job.',
      },
    },
    async (_req, reply) => {
      const { text, contentType } = await metrics.scrape();
      return reply.type(contentType).send(text);
    },
  );
};
