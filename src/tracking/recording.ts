// Recording on the calling thread: the click writer plus the hot-record writes, wired the same way
// whether the answering thread records itself (embedded, CLICK_RECORDER=inline) or the recording
// thread does (recorder-worker.ts).
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type { Db } from '../db/client.js';
import type { HotStore } from '../store/hot-store.js';
import { hotVisitWriterOptions, localVisitRecorder, type TrackingCounters, type VisitRecorder } from './click.js';
import { createClickWriter, type TrackingClickWriter } from './click-writer.js';
import { createHotVisitWriter } from './hot-click.js';

export interface RecordingSettings {
  batchMax: number;
  flushMs: number;
  bufferMax: number;
  spillDir: string;
  /** How long a visit waits for its unique-visit answer before it is buffered anyway. */
  holdTimeoutMs: number;
  uniqueWindowHours: number;
  /** How long closing may spend writing before it spills what is left (part of SHUTDOWN_TIMEOUT_MS). */
  closeBudgetMs?: number;
}

export interface RecordingDeps {
  db: Db;
  /** Real Postgres only: visits then go in with COPY. */
  pool?: pg.Pool;
  store: HotStore;
  log: FastifyBaseLogger;
  counters: TrackingCounters;
}

export async function startLocalRecording(deps: RecordingDeps, settings: RecordingSettings): Promise<{ writer: TrackingClickWriter; recorder: VisitRecorder }> {
  const { db, pool, store, log, counters } = deps;
  const { batchMax, flushMs, bufferMax, spillDir, holdTimeoutMs, closeBudgetMs } = settings;
  const writer = await createClickWriter({ db, pool, log, batchMax, flushMs, bufferMax, spillDir, holdTimeoutMs, closeBudgetMs, onHoldTimeout: () => counters.uniqueCheckTimedOut++ });
  const recorder = localVisitRecorder(writer, createHotVisitWriter(store, hotVisitWriterOptions({ writer, counters, log })), settings.uniqueWindowHours);
  return { writer, recorder };
}
