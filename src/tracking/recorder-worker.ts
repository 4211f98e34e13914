// The recording thread: owns the click writer (buffer, COPY, spill) and the hot-record writes for
// the visits /click answered on the main thread. See remote-recorder.ts for why and how.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { openPostgres } from '../db/client.js';
import { createRedisStore } from '../store/redis-store.js';
import { newCounters } from './click.js';
import { startLocalRecording } from './recording.js';
import type { RecorderSettings, ToRecorder, FromRecorder } from './remote-recorder.js';

const settings = workerData as RecorderSettings;
const port = parentPort!;
const post = (msg: FromRecorder) => port.postMessage(msg);
const log = pino({ level: settings.logLevel, base: { thread: 'recorder' } });

const database = openPostgres({ url: settings.databaseUrl, poolMax: settings.poolMax, onError: (err) => log.warn({ err }, 'postgres connection error') });
const store = await createRedisStore({
  url: settings.redisUrl,
  prefix: settings.redisPrefix,
  commandTimeoutMs: settings.redisCommandTimeoutMs,
  onError: (err) => log.warn({ err: err.message }, 'redis connection error'),
});
const counters = newCounters();
const { writer, recorder } = await startLocalRecording({ db: database.db, pool: database.pool, store, log, counters }, settings);

const snapshot = (): FromRecorder => ({
  type: 'stats',
  stats: writer.stats(),
  problems: { hotRecordFailed: counters.hotRecordFailed, uniqueCheckFailed: counters.uniqueCheckFailed, uniqueCheckTimedOut: counters.uniqueCheckTimedOut },
});
const statsTimer = setInterval(() => post(snapshot()), settings.statsEveryMs);

async function close() {
  clearInterval(statsTimer);
  await writer.close();
}

/** After the answer to close: the main thread ends this thread, so a hung connection cannot hold the exit. */
function closeConnections() {
  store.close().catch((err: Error) => log.warn({ err: err.message }, 'closing redis'));
  database.close().catch((err: Error) => log.warn({ err: err.message }, 'closing postgres'));
}

port.on('message', (msg: ToRecorder) => {
  switch (msg.type) {
    case 'visits':
      for (const item of msg.items) {
        if (item.visitorId === undefined) writer.add(item.visit);
        else recorder.record(item.visit, item.visitorId, item.windowDays ?? 0);
      }
      return;
    case 'landerClick':
      writer.addLanderClick(msg.row);
      return;
    case 'peek':
      void Promise.resolve(writer.peek(msg.clickId)).then((visit) => post({ type: 'peeked', id: msg.id, visit: visit ?? null }));
      return;
    case 'stats':
      post(snapshot());
      post({ type: 'done', id: msg.id });
      return;
    case 'flush':
    case 'close':
      (msg.type === 'flush' ? writer.flush() : close()).then(
        () => {
          post(snapshot());
          post({ type: 'done', id: msg.id });
          if (msg.type === 'close') closeConnections();
        },
        (err: Error) => post({ type: 'done', id: msg.id, error: err.message }),
      );
      return;
  }
});
post({ type: 'ready' });
