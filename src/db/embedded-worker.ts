// The embedded database's thread: PGlite (Postgres compiled to WebAssembly) runs every statement
// synchronously on the thread that calls it, so here it gets a thread of its own and the answering
// thread only posts statements and reads rows (see embedded-thread.ts for why and the protocol).
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { isFatal, type EmbeddedReply, type EmbeddedRequest, type QueryOptions } from './embedded-thread.js';

const port = parentPort!;
const { dataDir } = workerData as { dataDir?: string };

/**
 * An error's plain fields (code, detail, constraint...) survive the trip; so does a plain object
 * PGlite throws (errno). Only plain values: PGlite also hangs the query's options on its errors,
 * parser functions included, which cannot be posted (and a failed post would lose the answer).
 */
function plainFields(from: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof v)) out[k] = v;
  }
  return out;
}
function serialise(err: unknown): EmbeddedReply['error'] {
  if (err instanceof Error) return { message: err.message, name: err.name, stack: err.stack, fields: plainFields(err) };
  return { thrown: err && typeof err === 'object' ? plainFields(err) : String(err) };
}

const identity = (value: unknown) => value;
const queryOptions = (o: QueryOptions) => ({ rowMode: o.rowMode, parsers: Object.fromEntries(o.rawTypes.map((oid) => [oid, identity])) });

class Rollback extends Error {}

interface OpenTransaction {
  tx: Transaction;
  end: (commit: boolean) => void;
  done: Promise<unknown>;
}

let db: PGlite;
const open = new Map<number, OpenTransaction>();
let nextTx = 1;

async function handle(req: EmbeddedRequest): Promise<unknown> {
  switch (req.op) {
    case 'query': {
      const target = req.tx === undefined ? db : open.get(req.tx)?.tx;
      if (!target) throw new Error('Transaction is closed');
      return target.query(req.sql, req.params, queryOptions(req.options));
    }
    case 'begin': {
      const id = nextTx++;
      let started!: () => void;
      const begun = new Promise<void>((resolve) => (started = resolve));
      let end!: (commit: boolean) => void;
      const ended = new Promise<boolean>((resolve) => (end = resolve));
      // PGlite's transaction holds the database until its callback returns: statements of other
      // requests wait for it, as on one Postgres connection.
      const done = db
        .transaction(async (tx) => {
          open.set(id, { tx, end, done });
          started();
          if (!(await ended)) throw new Rollback();
        })
        .catch((err: unknown) => {
          if (!(err instanceof Rollback)) throw err;
        })
        .finally(() => open.delete(id));
      // BEGIN itself failed: the transaction never started.
      await Promise.race([begun, done.then(() => Promise.reject(new Error('transaction did not start')))]);
      return id;
    }
    case 'end': {
      const t = open.get(req.tx);
      if (!t) throw new Error('Transaction is closed');
      t.end(req.commit);
      await t.done;
      return undefined;
    }
    case 'close':
      if (!db.closed) await db.close();
      return undefined;
  }
}

const answer = (reply: EmbeddedReply) => {
  try {
    port.postMessage(reply);
  } catch (err) {
    // A value that cannot be posted must fail its one call, not the thread.
    port.postMessage({ id: reply.id, error: serialise(err) } satisfies EmbeddedReply);
  }
};

port.on('message', (req: EmbeddedRequest) => {
  handle(req).then(
    (result) => answer({ id: req.id, result }),
    (err: unknown) => {
      // PGlite is broken for good: end the thread, and the answering side starts a new one.
      if (isFatal(err)) process.exit(1);
      answer({ id: req.id, error: serialise(err) });
    },
  );
});

try {
  db = new PGlite(dataDir);
  await db.waitReady;
  port.postMessage({ id: 0, result: 'ready' } satisfies EmbeddedReply);
} catch (err) {
  port.postMessage({ id: 0, error: serialise(err) } satisfies EmbeddedReply);
}
