// The embedded database (PGlite) on a thread of its own, behind the small part of PGlite's API
// that drizzle's pglite driver uses (query, transaction), so every query is still written once.
//
// Why: PGlite is Postgres compiled to WebAssembly and runs each statement synchronously on the
// thread that calls it. On the answering thread, every visit batch insert and every rollup fold
// held all redirects behind it: the embedded /click p99 was 115-190 ms (npm run bench, embedded
// phase) for ~1-2 ms at the median. Here the answering thread posts a statement and gets its rows
// back; the WebAssembly runs beside it. Measured: see README, Benchmarks.
//
// Protocol: one message per call, `{ id, op }`, answered with `{ id, result }` or `{ id, error }`.
// A transaction is `begin` (answered with its number), queries carrying that number, then `end`
// with commit or rollback; meanwhile the thread holds PGlite for it, so other statements wait, as
// they did on the shared PGlite before.
import type { Worker } from 'node:worker_threads';
import { startModuleThread } from '../threads.js';

export interface QueryOptions {
  rowMode?: 'array' | 'object';
  /** Type OIDs whose text is returned as it is (drizzle's parsers for dates, times and their arrays). */
  rawTypes: number[];
}

type Call =
  | { op: 'query'; sql: string; params: unknown[]; options: QueryOptions; tx?: number }
  | { op: 'begin' }
  | { op: 'end'; tx: number; commit: boolean }
  | { op: 'close' };
export type EmbeddedRequest = Call & { id: number };

export interface EmbeddedReply {
  id: number;
  result?: unknown;
  error?: { message?: string; name?: string; stack?: string; fields?: Record<string, unknown>; thrown?: unknown };
}

/** What drizzle's pglite session and migrator call on a client. */
export interface PgliteLike {
  query(sql: string, params?: unknown[], options?: { rowMode?: 'array' | 'object'; parsers?: Record<number, unknown> }): Promise<unknown>;
  transaction<T>(fn: (tx: Pick<PgliteLike, 'query'>) => Promise<T>): Promise<T>;
}

export interface EmbeddedThread {
  client: PgliteLike;
  close(): Promise<void>;
}

function revive(e: NonNullable<EmbeddedReply['error']>): unknown {
  // PGlite's file-system errors are plain objects (errno, no message): keep them so, for the start-up line.
  if (e.thrown !== undefined) return e.thrown;
  const err = Object.assign(new Error(e.message), e.fields);
  err.name = e.name ?? 'Error';
  if (e.stack) err.stack = e.stack;
  return err;
}

/** Every call once the thread is gone fails as Postgres being away does (SQLSTATE 57P01), so writers keep their data. */
const threadGone = (why: string) => Object.assign(new Error(`embedded database thread stopped: ${why}`), { code: '57P01' });

/** Starts the thread, opens the database in `dataDir` (in memory when undefined) and waits until it is ready. */
export async function startEmbeddedThread(dataDir: string | undefined): Promise<EmbeddedThread> {
  const worker: Worker = startModuleThread(import.meta.url, 'embedded-worker', { dataDir });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let nextId = 1;
  let gone: Error | undefined;
  let ready!: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
  const opened = new Promise((resolve, reject) => (ready = { resolve, reject }));
  waiting.set(0, ready);

  const failAll = (err: Error) => {
    gone ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on('message', (reply: EmbeddedReply) => {
    const w = waiting.get(reply.id);
    if (!w) return;
    waiting.delete(reply.id);
    if (waiting.size === 0) worker.unref();
    if (reply.error) w.reject(revive(reply.error));
    else w.resolve(reply.result);
  });
  worker.on('error', (err) => failAll(threadGone(err.message)));
  worker.on('exit', (code) => failAll(threadGone(`exit code ${code}`)));

  const call = (req: Call): Promise<unknown> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    // Referenced only while a call waits: an idle thread must not keep the process alive, and a
    // process with nothing but a query in flight must not exit under it.
    if (waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...req, id });
    });
  };
  const query = (sql: string, params: unknown[] = [], options: Parameters<PgliteLike['query']>[2] = {}, tx?: number) =>
    call({ op: 'query', sql, params, tx, options: { rowMode: options.rowMode, rawTypes: Object.keys(options.parsers ?? {}).map(Number) } });

  try {
    await opened;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  return {
    client: {
      query: (sql, params, options) => query(sql, params, options),
      async transaction(fn) {
        const tx = (await call({ op: 'begin' })) as number;
        let result;
        try {
          result = await fn({ query: (sql, params, options) => query(sql, params, options, tx) });
        } catch (err) {
          await call({ op: 'end', tx, commit: false }).catch(() => undefined);
          throw err;
        }
        await call({ op: 'end', tx, commit: true });
        return result;
      },
    },
    async close() {
      if (gone) return;
      await call({ op: 'close' });
      gone = threadGone('closed');
      await worker.terminate();
    },
  };
}
