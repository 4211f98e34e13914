// Postbacks taken in while Postgres is away. A network that got 200 never sends the conversion
// again, so a postback is answered 200 only once it is either committed in Postgres or written
// here and fsynced: NDJSON files in a directory of this instance, replayed in arrival order once
// Postgres answers. While anything waits here, new postbacks queue behind it (see service.ts), so
// an approval and its later reversal are applied in the order they came.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { ConversionSource } from './record.js';

/** What recordConversion needs again, without the secret itself (its sha256 stands in). */
export interface SpilledPostback {
  raw: Record<string, string>;
  /** The click ID when it is not in `raw`: a pixel's comes from the tlcid cookie. */
  clickId?: string;
  source: ConversionSource;
  convertedAt: string;
  receivedAt: string;
  sourceIp: string | null;
  secretHash: string | null;
  enforceWindow: boolean;
}

/** `done`: recorded, or refused for good (logged); `retry`: Postgres is still away, keep it. */
export type ReplayVerdict = 'done' | 'retry';

export interface PostbackSpillStats {
  /** Postbacks written here since start. */
  queued: number;
  /** Of those and of earlier runs', recorded (or refused for good) since. */
  replayed: number;
  /** Waiting here now. */
  backlog: number;
  /** Entries set aside after failing for a reason other than Postgres being away (see deadLetterAfter). */
  deadLettered: number;
}

export interface PostbackSpill {
  /** True while anything waits here (or is being written). */
  waiting(): boolean;
  /** Resolves once the entry is on disk and fsynced; rejects when it could not be written. */
  append(entry: SpilledPostback): Promise<void>;
  /** Replays everything waiting, oldest first, until done or `record` answers `retry`. */
  replay(record: (entry: SpilledPostback) => Promise<ReplayVerdict>): Promise<{ replayed: number; left: number }>;
  stats(): PostbackSpillStats;
  close(): Promise<void>;
}

const PREFIX = 'postbacks-';
const DEAD_LETTER = 'dead-letter.ndjson';
let sequence = 0;
/** Names sort in the order the files were started, across restarts of the process too. */
const newFileName = () => `${PREFIX}${Date.now().toString().padStart(15, '0')}-${String(sequence++).padStart(6, '0')}-${randomBytes(3).toString('hex')}.ndjson`;

/** Writes `text` to `path` (`a`: appended, `w`: replaced) and fsyncs it before resolving. */
async function writeSynced(path: string, text: string, flag: 'a' | 'w'): Promise<void> {
  const h = await open(path, flag);
  try {
    await h.write(text);
    await h.sync();
  } finally {
    await h.close();
  }
}

function parseLines(text: string, file: string, log: FastifyBaseLogger): SpilledPostback[] {
  const out: SpilledPostback[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as SpilledPostback);
    } catch {
      // Only a line cut short by a crash: its postback was never answered, so the network sends it again.
      log.warn({ file }, 'postback spill: skipped a torn line');
    }
  }
  return out;
}

/** Opens `dir` and counts what earlier runs left there. */
export async function createPostbackSpill({ dir, log, deadLetterAfter = 3 }: { dir: string; log: FastifyBaseLogger; deadLetterAfter?: number }): Promise<PostbackSpill> {
  const stats: PostbackSpillStats = { queued: 0, replayed: 0, backlog: 0, deadLettered: 0 };
  const listFiles = async () => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(PREFIX) && f.endsWith('.ndjson')).sort();
  for (const f of await listFiles()) stats.backlog += parseLines(await readFile(join(dir, f), 'utf8'), f, log).length;
  if (stats.backlog > 0) log.warn({ dir, backlog: stats.backlog }, 'postback spill: postbacks from an earlier run wait to be recorded');

  // Every file operation runs in this one chain, so a rotation falls between two writes.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };
  let handle: FileHandle | undefined;
  let current: string | undefined;
  let lines: string[] = [];
  let waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushQueued = false;

  const syncDir = async () => {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  };
  // Group commit: whatever arrived while the last write was syncing goes in one write and one fsync.
  const flush = async () => {
    flushQueued = false;
    const batch = lines;
    const batchWaiters = waiters;
    lines = [];
    waiters = [];
    if (batch.length === 0) return;
    try {
      if (!handle) {
        await mkdir(dir, { recursive: true });
        current = newFileName();
        handle = await open(join(dir, current), 'a');
        await syncDir();
      }
      await handle.write(batch.join(''));
      await handle.datasync();
      stats.queued += batch.length;
      stats.backlog += batch.length;
      for (const w of batchWaiters) w.resolve();
    } catch (err) {
      for (const w of batchWaiters) w.reject(err);
    }
  };
  const rotate = () =>
    serial(async () => {
      await handle?.close();
      handle = undefined;
      current = undefined;
    });

  /** Rewrites `file` to hold only `rest` (write aside, fsync, rename over), or removes it. */
  const keepOnly = async (file: string, rest: SpilledPostback[]) => {
    const path = join(dir, file);
    if (rest.length === 0) return unlink(path);
    const tmp = `${path}.tmp`;
    await writeSynced(tmp, rest.map((e) => `${JSON.stringify(e)}\n`).join(''), 'w');
    await rename(tmp, path);
    await syncDir();
  };

  let replaying = false;
  const failures = new Map<string, number>();
  return {
    waiting: () => stats.backlog > 0 || lines.length > 0 || waiters.length > 0,
    append(entry) {
      return new Promise<void>((resolve, reject) => {
        lines.push(`${JSON.stringify(entry)}\n`);
        waiters.push({ resolve, reject });
        if (!flushQueued) {
          flushQueued = true;
          void serial(flush);
        }
      });
    },
    async replay(record) {
      if (replaying) return { replayed: 0, left: stats.backlog };
      replaying = true;
      let replayed = 0;
      try {
        // New postbacks go to a new file from here on, which sorts after every file read below.
        await rotate();
        // A file started since (by a postback arriving meanwhile) is still being written: next pass.
        for (const file of (await listFiles()).filter((f) => f !== current)) {
          const entries = parseLines(await readFile(join(dir, file), 'utf8'), file, log);
          let i = 0;
          for (; i < entries.length; i++) {
            const key = JSON.stringify(entries[i]);
            let verdict: ReplayVerdict;
            try {
              verdict = await record(entries[i]);
            } catch (err) {
              // Not Postgres being away (record says so with `retry`): a few more passes, then set aside.
              const n = (failures.get(key) ?? 0) + 1;
              failures.set(key, n);
              log.error({ err, file, entry: i, attempts: n }, 'postback spill: replaying a postback failed');
              if (n < deadLetterAfter) verdict = 'retry';
              else {
                await serial(() => writeSynced(join(dir, DEAD_LETTER), `${JSON.stringify(entries[i])}\n`, 'a'));
                stats.deadLettered++;
                verdict = 'done';
              }
            }
            if (verdict === 'retry') break;
            failures.delete(key);
            replayed++;
            stats.replayed++;
            stats.backlog--;
          }
          await keepOnly(file, entries.slice(i));
          if (i < entries.length) break;
        }
      } finally {
        replaying = false;
      }
      return { replayed, left: stats.backlog };
    },
    stats: () => ({ ...stats }),
    close: () => rotate(),
  };
}
