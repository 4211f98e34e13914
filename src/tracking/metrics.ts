// The tracking capability's Prometheus series (GET /api/metrics), read at scrape time from the
// counters and click writer stats that /api/tracking/status also shows.
import type { Metrics } from '../http/metrics.js';
import type { TrackingCounters } from './click.js';
import type { TrackingClickWriter } from './click-writer.js';
import type { QueueStats } from './write-queue.js';

export function observeTracking(metrics: Metrics, counters: TrackingCounters, writer: TrackingClickWriter): void {
  metrics.observe('counter', 'visits_total', 'Visits answered by /click and recorded', () => counters.visits);
  metrics.observe('counter', 'lander_clicks_total', 'Lander click-throughs answered by /cta', () => counters.landerClicks);
  metrics.observe(
    'counter',
    'tracking_problems_total',
    'Visits whose side work went wrong, by reason (the visit itself was answered and kept)',
    () => ({
      hot_record_failed: counters.hotRecordFailed,
      unique_check_failed: counters.uniqueCheckFailed,
      unique_check_timed_out: counters.uniqueCheckTimedOut,
      geo_lookup_failed: counters.geoLookupFailed,
      cta_unknown_click: counters.ctaUnknownClick,
    }),
    'reason',
  );
  metrics.observe('counter', 'destinations_rejected_total', 'Redirects refused for an unsafe destination (sent to the fallback), by reason', () => counters.destinationRejected, 'reason');

  // One series per table the click writer fills.
  const byTable = (read: (s: QueueStats) => number) => () => {
    const s = writer.stats();
    return { visits: read(s.visits), lander_clicks: read(s.landerClicks) };
  };
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  metrics.observe('gauge', 'click_writer_buffered_rows', 'Rows in memory waiting for Postgres', byTable((s) => s.buffered), 'table');
  metrics.observe('gauge', 'click_writer_oldest_buffered_seconds', 'Age of the oldest row waiting for Postgres', byTable((s) => (s.oldestBufferedMs ?? 0) / 1000), 'table');
  metrics.observe('gauge', 'click_writer_postgres_healthy', '1 while the last write to Postgres succeeded', byTable((s) => (s.postgresHealthy ? 1 : 0)), 'table');
  metrics.observe('gauge', 'click_writer_spill_files', 'Spill files waiting to be replayed into Postgres', byTable((s) => s.spillFilesPending), 'table');
  metrics.observe('counter', 'click_writer_written_rows_total', 'Rows written to Postgres', byTable((s) => s.written), 'table');
  metrics.observe('counter', 'click_writer_failed_batches_total', 'Batch writes that failed and were retried', byTable((s) => s.failedBatches), 'table');
  metrics.observe('counter', 'click_writer_spilled_rows_total', 'Rows moved to spill files while Postgres was down or slow', byTable((s) => s.spilled), 'table');
  metrics.observe('counter', 'click_writer_replayed_rows_total', 'Spilled rows written to Postgres since', byTable((s) => s.replayed), 'table');
  metrics.observe('counter', 'click_writer_dropped_rows_total', 'Rows lost (Postgres and the spill directory both failed); reasons at /api/tracking/status', byTable((s) => sum(s.dropped)), 'table');
}
