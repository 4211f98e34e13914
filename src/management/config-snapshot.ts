// An in-memory copy of configuration tables that every instance keeps fresh: reloaded when a
// management write publishes on CONFIG_CHANNEL, and by a poll of a cheap fingerprint as the
// safety net for a missed message (Redis down). /click's campaign cache and attribution's
// settings are both built on it, so there is one reload mechanism to reason about.
import { sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import { rows, type Db } from '../db/client.js';
import type { HotStore } from '../store/hot-store.js';

export const CONFIG_CHANNEL = 'config-changed';

/** Changes whenever any configuration row changes: every management write bumps updated_at. */
export async function configFingerprint(db: Db): Promise<string> {
  const [r] = await rows<{ f: string }>(
    db,
    sql`select concat_ws('|',
      (select concat(count(*), ':', max(updated_at)) from campaigns),
      (select concat(count(*), ':', max(updated_at)) from offers),
      (select concat(count(*), ':', max(updated_at)) from landers),
      (select concat(count(*), ':', max(updated_at)) from traffic_sources),
      (select concat(count(*), ':', max(updated_at)) from affiliate_networks)) as f`,
  );
  return r.f;
}

export interface ConfigSnapshot<T> {
  current(): T;
  /** Reloads now. Concurrent calls share a load; a call during a load gets one more load after it. */
  refresh(): Promise<T>;
  /** After a local write: reload here and tell every other instance to reload. */
  changed(): Promise<void>;
  close(): Promise<void>;
}

export interface ConfigSnapshotOptions<T> {
  /** Names the snapshot in logs. */
  name: string;
  db: Db;
  store: HotStore;
  log: FastifyBaseLogger;
  load: (db: Db) => Promise<T>;
  pollMs: number;
}

export async function createConfigSnapshot<T>({ name, db, store, log, load, pollMs }: ConfigSnapshotOptions<T>): Promise<ConfigSnapshot<T>> {
  let value: T;
  let lastFingerprint = '';
  let loading: Promise<T> | undefined;
  let again = false;

  const loadOnce = async () => {
    // Fingerprint first: a write landing during the load changes it again, so the poll reloads.
    const fp = await configFingerprint(db);
    value = await load(db);
    lastFingerprint = fp;
  };
  const refresh = (): Promise<T> => {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      try {
        do {
          again = false;
          await loadOnce();
        } while (again);
        return value;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };
  const refreshLogged = () =>
    refresh().catch((err: Error) => log.warn({ err: err.message, snapshot: name }, 'config reload failed; serving the previous config'));

  await refresh();
  const unsubscribe = await store.subscribe(CONFIG_CHANNEL, () => void refreshLogged()).catch((err: Error) => {
    log.warn({ err: err.message, snapshot: name }, 'cannot subscribe to config changes; relying on polling');
    return async () => undefined;
  });
  const timer = setInterval(() => {
    configFingerprint(db)
      .then((fp) => (fp !== lastFingerprint ? refreshLogged() : undefined))
      .catch((err: Error) => log.debug({ err: err.message, snapshot: name }, 'config poll failed'));
  }, pollMs);
  timer.unref();

  return {
    current: () => value,
    refresh,
    async changed() {
      await refresh();
      await store.publish(CONFIG_CHANNEL, String(Date.now())).catch((err: Error) => {
        log.warn({ err: err.message }, 'could not publish a config change; other instances pick it up by polling');
      });
    },
    async close() {
      clearInterval(timer);
      await unsubscribe();
    },
  };
}
