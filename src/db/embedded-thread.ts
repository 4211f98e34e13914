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
  /** The thread serving now (tests end it to play a crash). */
  thread(): Worker;
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

/**
 * A WebAssembly trap (PGlite's abort: out of memory, an assertion) or Emscripten's exit leaves
 * PGlite broken for good, yet arrives in the thread as an ordinary rejected query: every later
 * statement would fail with an error that is not "Postgres away", and visits would be set aside
 * as refused. So the thread ends on one (embedded-worker.ts); calls then fail as Postgres away and
 * a new thread is started, whose Postgres recovery makes the data whole.
 */
export function isFatal(err: unknown): boolean {
  for (let e = err, i = 0; e instanceof Error && i < 4; e = e.cause, i++) {
    if (e.name === 'RuntimeError' || e.name === 'ExitStatus') return true;
  }
  return false;
}

/** Every call once the thread is gone fails as Postgres being away does (SQLSTATE 57P01), so writers keep their data. */
const threadGone = (why: string) => Object.assign(new Error(`embedded database thread stopped: ${why}`), { code: '57P01' });

export type EmbeddedThreadEvent = { type: 'died'; reason: string } | { type: 'restarted' } | { type: 'restartFailed'; err: unknown };

export interface EmbeddedThreadOptions {
  /** Told when the thread stops unexpectedly and when a new one has the data open again. */
  onEvent?: (event: EmbeddedThreadEvent) => void;
  restartDelayMs?: number;
}

interface Incarnation {
  worker: Worker;
  waiting: Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>;
}

/**
 * Starts the thread, opens the database in `dataDir` (in memory when undefined) and waits until it
 * is ready. A thread that dies (a WebAssembly abort, out of memory) is started again on the same
 * directory after `restartDelayMs`, and again until it opens: Postgres's recovery makes the data
 * whole, and meanwhile every call fails as Postgres away does, so visits and postbacks are kept on
 * disk (not a process that answers redirects with its database gone for good).
 */
export async function startEmbeddedThread(dataDir: string | undefined, { onEvent, restartDelayMs = 1000 }: EmbeddedThreadOptions = {}): Promise<EmbeddedThread> {
  let nextId = 1;
  let closed = false;
  /** Set while no thread serves: the reason every call fails. */
  let down: Error | undefined;
  let current: Incarnation;

  const died = (err: Error) => {
    if (down || closed) return;
    down = err;
    onEvent?.({ type: 'died', reason: err.message });
    // An in-memory database died with its thread: there is nothing to open again.
    if (dataDir === undefined) return;
    // Doubling up to 30 s while the directory will not open (a full disk), so the log says so
    // every half minute rather than every second.
    const retry = (delay: number) =>
      setTimeout(() => {
        if (closed) return;
        open().then(
          (inc) => {
            if (closed) return void inc.worker.terminate();
            current = inc;
            down = undefined;
            onEvent?.({ type: 'restarted' });
          },
          (openErr: unknown) => {
            onEvent?.({ type: 'restartFailed', err: openErr });
            retry(Math.min(delay * 2, 30_000));
          },
        );
      }, delay).unref();
    retry(restartDelayMs);
  };

  const open = async (): Promise<Incarnation> => {
    const inc: Incarnation = { worker: startModuleThread(import.meta.url, 'embedded-worker', { dataDir }), waiting: new Map() };
    const opened = new Promise((resolve, reject) => inc.waiting.set(0, { resolve, reject }));
    const fail = (why: string) => {
      const err = threadGone(why);
      for (const w of inc.waiting.values()) w.reject(err);
      inc.waiting.clear();
      if (current === inc) died(err);
    };
    inc.worker.on('message', (reply: EmbeddedReply) => {
      const w = inc.waiting.get(reply.id);
      if (!w) return;
      inc.waiting.delete(reply.id);
      if (inc.waiting.size === 0) inc.worker.unref();
      if (reply.error) w.reject(revive(reply.error));
      else w.resolve(reply.result);
    });
    inc.worker.on('error', (err) => fail(err.message));
    inc.worker.on('exit', (code) => fail(`exit code ${code}`));
    try {
      await opened;
    } catch (err) {
      await inc.worker.terminate();
      throw err;
    }
    return inc;
  };

  const call = (req: Call): Promise<unknown> => {
    if (closed) return Promise.reject(threadGone('closed'));
    if (down) return Promise.reject(down);
    const { worker, waiting } = current;
    const id = nextId++;
    // Referenced only while a call waits: an idle thread must not keep the process alive, and a
    // process with nothing but a query in flight must not exit under it.
    if (waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      try {
        worker.postMessage({ ...req, id });
      } catch (err) {
        // A parameter that cannot be copied to the thread: this call fails, the thread is fine.
        waiting.delete(id);
        if (waiting.size === 0) worker.unref();
        reject(err);
      }
    });
  };
  const query = (sql: string, params: unknown[] = [], options: Parameters<PgliteLike['query']>[2] = {}, tx?: number) =>
    call({ op: 'query', sql, params, tx, options: { rowMode: options.rowMode, rawTypes: Object.keys(options.parsers ?? {}).map(Number) } });

  current = await open();

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
    thread: () => current.worker,
    async close() {
      if (closed) return;
      try {
        // PGlite's own close writes what it holds; a thread already down has nothing to close.
        if (!down) await call({ op: 'close' });
      } finally {
        closed = true;
        await current.worker.terminate();
      }
    },
  };
}
