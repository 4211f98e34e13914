// Recording visits on a worker thread (CLICK_RECORDER=thread, the default on Postgres + Redis).
//
// Why: /click answers in ~4 µs of work over a bare Fastify route, but writing the visit down (the
// Redis hot record and unique claim, the buffer, COPY serialisation) cost 1.5-2x that route again
// on the same thread, and the buffered rows it keeps alive are what the main thread's garbage
// collector kept copying (scavenges of 3-13 ms, the fixed-rate tail). On a thread of its own that
// work uses a core the answering thread does not, and its heap is collected apart. Measured back to
// back on one host (npm run bench, BENCH_TRACKER_ENV="CLICK_RECORDER=inline|thread"): 7,510-7,995
// against 9,188-10,729 /click requests/s; the answering thread then runs at ~70-75% of a core.
//
// How: the main thread gathers the visits of one event-loop turn (the answers already sent) and
// posts them in one message; the thread runs the unchanged click writer and hot-visit writer on
// them with its own Postgres pool and Redis connection. Everything else talks to it through this
// object: peek (a postback for a visit still buffered), lander clicks, flush and close (SIGTERM:
// the thread writes everything it holds before the process exits), and stats, which the thread
// sends every second, after each flush and when asked. A crash of the thread loses what it had
// buffered, the same bound as a crash of the process (CLICK_FLUSH_MS of visits); another thread is
// started a second later, and what is recorded meanwhile waits here for it (up to CLICK_BUFFER_MAX).
import type { Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import { startModuleThread } from '../threads.js';
import type { TrackingCounters, VisitRecorder } from './click.js';
import type { ClickWriterStats, LanderClickRow, TrackingClickWriter } from './click-writer.js';
import type { VisitRow } from './hot-click.js';
import type { RecordingSettings } from './recording.js';

/** What the thread needs to open its own connections and record as the answering thread would. */
export interface RecorderSettings extends RecordingSettings {
  databaseUrl: string;
  poolMax: number;
  redisUrl: string;
  redisPrefix: string;
  redisCommandTimeoutMs: number;
  logLevel: string;
  statsEveryMs: number;
}

export type ToRecorder =
  | { type: 'visits'; items: PendingVisit[] }
  | { type: 'landerClick'; row: LanderClickRow }
  | { type: 'peek'; id: number; clickId: string }
  | { type: 'flush'; id: number }
  | { type: 'stats'; id: number }
  | { type: 'close'; id: number };

/** A visit for the thread: recorded (hot record and unique claim built there), or buffered as it is (add). */
export interface PendingVisit {
  visit: VisitRow;
  /** Absent for add(). */
  visitorId?: string;
  windowDays?: number;
}

type Problems = Pick<TrackingCounters, 'hotRecordFailed' | 'uniqueCheckFailed' | 'uniqueCheckTimedOut'>;

export type FromRecorder =
  | { type: 'ready' }
  | { type: 'stats'; stats: ClickWriterStats; problems: Problems }
  | { type: 'peeked'; id: number; visit: VisitRow | null }
  | { type: 'done'; id: number; error?: string };

const emptyQueue = () => ({ buffered: 0, written: 0, batches: 0, failedBatches: 0, spilled: 0, replayed: 0, dropped: {}, spillFilesPending: 0, postgresHealthy: true, lastError: null, oldestBufferedMs: null });

const newWorker = (settings: RecorderSettings): Worker => startModuleThread(import.meta.url, 'recorder-worker', settings);

export interface RemoteRecorder {
  writer: TrackingClickWriter;
  recorder: VisitRecorder;
  /** The thread now running (diagnostics; tests end it to play a crash). */
  thread(): Worker;
}

type Queue = ClickWriterStats['landerClicks'];
/** The running totals of `a` and `b`; the gauges (buffered, health, last error) are `b`'s. */
function addTotals(a: Queue, b: Queue): Queue {
  const dropped: Record<string, number> = { ...a.dropped };
  for (const [k, v] of Object.entries(b.dropped)) dropped[k] = (dropped[k] ?? 0) + v;
  return {
    ...b,
    written: a.written + b.written,
    batches: a.batches + b.batches,
    failedBatches: a.failedBatches + b.failedBatches,
    spilled: a.spilled + b.spilled,
    replayed: a.replayed + b.replayed,
    dropped,
  };
}

export async function startRemoteRecorder(settings: RecorderSettings, counters: TrackingCounters, log: FastifyBaseLogger): Promise<RemoteRecorder> {
  let stats: ClickWriterStats = { visits: { ...emptyQueue(), awaitingUniqueCheck: 0 }, landerClicks: emptyQueue() };
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let items: PendingVisit[] = [];
  // Messages other than visits, kept while no thread is running (between a crash and the restart).
  let outbox: ToRecorder[] = [];
  let droppedWhileDown = 0;
  // Totals of the threads that died: a restart must not make written, spilled or dropped go backwards.
  let before: ClickWriterStats | undefined;
  let scheduled = false;
  let closing = false;
  let alive = false;
  let worker!: Worker;

  const post = (msg: ToRecorder) => {
    if (alive) worker.postMessage(msg);
    else outbox.push(msg);
  };
  const send = () => {
    scheduled = false;
    if (items.length === 0) return;
    if (!alive) {
      // Kept for the next thread, within the same bound as its buffer; the oldest go first.
      if (items.length > settings.bufferMax) {
        droppedWhileDown += items.length - settings.bufferMax;
        items = items.slice(items.length - settings.bufferMax);
      }
      return;
    }
    worker.postMessage({ type: 'visits', items } satisfies ToRecorder);
    items = [];
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(send);
  };
  /** The figures since start-up: the threads that died, the current one, and what was dropped while none ran. */
  const sinceStart = (current: ClickWriterStats): ClickWriterStats => {
    const s = before ? { visits: { ...addTotals(before.visits, current.visits), awaitingUniqueCheck: current.visits.awaitingUniqueCheck }, landerClicks: addTotals(before.landerClicks, current.landerClicks) } : current;
    return droppedWhileDown === 0 ? s : { ...s, visits: { ...s.visits, dropped: { ...s.visits.dropped, recording_thread_down: droppedWhileDown } } };
  };

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const w = newWorker(settings);
      worker = w;
      let ready = false;
      w.on('message', (msg: FromRecorder) => {
        switch (msg.type) {
          case 'ready': {
            ready = true;
            alive = true;
            // Visits first, so a flush asked while no thread ran also covers them.
            send();
            const queued = outbox;
            outbox = [];
            for (const m of queued) w.postMessage(m);
            resolve();
            return;
          }
          case 'stats':
            stats = msg.stats;
            Object.assign(counters, msg.problems);
            return;
          case 'peeked':
          case 'done': {
            const p = waiting.get(msg.id);
            waiting.delete(msg.id);
            if (msg.type === 'peeked') p?.resolve(msg.visit ?? undefined);
            else if (msg.error) p?.reject(new Error(msg.error));
            else p?.resolve(undefined);
            return;
          }
        }
      });
      w.on('error', (err) => log.error({ err }, 'recording thread failed'));
      w.on('exit', (code) => {
        alive = false;
        if (ready) {
          before = sinceStart(stats);
          delete before.visits.dropped.recording_thread_down;
          stats = { visits: { ...emptyQueue(), awaitingUniqueCheck: 0 }, landerClicks: emptyQueue() };
        }
        for (const p of waiting.values()) p.reject(new Error(`recording thread exited (${code})`));
        waiting.clear();
        if (!ready) reject(new Error(`recording thread exited (${code}) before it was ready`));
        if (closing || !ready) return;
        log.error({ code }, 'recording thread exited; starting another in 1 s (visits wait here meanwhile)');
        const again = () =>
          start().catch((err: Error) => {
            log.error({ err }, 'recording thread did not start; trying again in 1 s');
            setTimeout(again, 1000).unref();
          });
        setTimeout(again, 1000).unref();
      });
    });

  type Question = { type: 'peek'; clickId: string } | { type: 'flush' } | { type: 'stats' } | { type: 'close' };
  const ask = <T>(msg: Question): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      post({ ...msg, id });
    });
  };

  await start();
  const writer: TrackingClickWriter = {
    // Holding waits for a unique claim, which only recorder.record sends; held and released on the thread.
    hold(visit) {
      writer.add(visit);
    },
    release() {},
    add(visit) {
      items.push({ visit });
      schedule();
    },
    addLanderClick(row) {
      post({ type: 'landerClick', row });
    },
    peek(clickId) {
      const here = items.find((i) => i.visit.clickId === clickId)?.visit;
      if (here) return Promise.resolve(here);
      // No thread, no buffer to look in: the caller goes on to Redis and Postgres instead of waiting
      // (a postback would otherwise hang until the next thread is up, or for good if it never is).
      if (!alive) return Promise.resolve(undefined);
      return ask<VisitRow | undefined>({ type: 'peek', clickId });
    },
    async flush() {
      send();
      await ask({ type: 'flush' });
    },
    async close() {
      send();
      closing = true;
      try {
        await ask({ type: 'close' });
      } finally {
        await worker.terminate();
      }
    },
    stats: () => sinceStart(stats),
    // The thread sends its figures before it answers.
    freshStats: () => ask({ type: 'stats' }).then(() => sinceStart(stats)),
  };
  // The hot record's JSON and the claim are built on the thread: the message carries the visit once.
  const recorder: VisitRecorder = {
    record(visit, visitorId, windowDays) {
      items.push({ visit, visitorId, windowDays });
      schedule();
    },
  };
  return { writer, recorder, thread: () => worker };
}
