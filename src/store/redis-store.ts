// HotStore on Redis. Commands time out (REDIS_COMMAND_TIMEOUT_MS) and are never queued while
// disconnected, so a hung or down Redis fails a command fast instead of hanging a request;
// reconnects go on forever with a capped backoff.
import { Redis } from 'ioredis';
import type { HotStore, SetAndClaim } from './hot-store.js';

/**
 * KEYS: key1, claimKey1, key2, claimKey2, ...; ARGV: value1, ttl1, claimTtl1, value2, ...
 * Returns 1 per newly claimed key, else 0. /click records each visit with a SET and a SET NX; as
 * two ioredis commands per visit, ioredis (command objects, promises, pipelining, reply parsing)
 * was ~12% of the tracker's profile under the benchmark's load; as one script call per
 * event-loop turn for every visit of that turn, ~5%. Keys of one call may live on different
 * Cluster slots, so this needs a single Redis (not Cluster), which is what REDIS_URL is.
 */
const SET_AND_CLAIM_LUA = `
local out = {}
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 3
  redis.call('SET', KEYS[i], ARGV[a + 1], 'EX', ARGV[a + 2])
  if redis.call('SET', KEYS[i + 1], '1', 'EX', ARGV[a + 3], 'NX') then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out`;

type ScriptedRedis = Redis & { tlSetAndClaim(numKeys: number, ...args: (string | number)[]): Promise<number[]> };

export interface RedisStoreOptions {
  url: string;
  prefix: string;
  commandTimeoutMs: number;
  onError?: (err: Error) => void;
  /** How long start-up waits for the first connection before going on without it. */
  connectWaitMs?: number;
}

export async function createRedisStore(opts: RedisStoreOptions): Promise<HotStore> {
  const { url, prefix, commandTimeoutMs, onError, connectWaitMs = 3000 } = opts;
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    enableAutoPipelining: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  const client = new Redis(url, {
    ...common,
    // setAndClaim is already one call per event-loop turn; through the auto-pipeline it also built
    // a Pipeline per call, with its own tick and promises (~3% of /click's CPU under load).
    autoPipeliningIgnoredCommands: ['tlSetAndClaim', 'mget'],
  }) as ScriptedRedis;
  // defineCommand sends EVALSHA and falls back to EVAL once when the script is not cached (NOSCRIPT).
  client.defineCommand('tlSetAndClaim', { lua: SET_AND_CLAIM_LUA });
  // The subscriber needs its own connection; it may queue while reconnecting (it only SUBSCRIBEs).
  const subscriber = new Redis(url, { ...common, enableOfflineQueue: true, commandTimeout: undefined });
  let lastError = '';
  for (const c of [client, subscriber]) {
    c.on('error', (err: Error) => {
      // ioredis repeats the same error on every reconnect attempt: report each cause once.
      if (err.message !== lastError) onError?.(err);
      lastError = err.message;
    });
    c.on('ready', () => {
      lastError = '';
    });
  }
  await Promise.race([
    Promise.allSettled([client.connect(), subscriber.connect()]),
    new Promise((resolve) => setTimeout(resolve, connectWaitMs).unref()),
  ]);

  const handlers = new Map<string, Set<(message: string) => void>>();
  subscriber.on('message', (channel: string, message: string) => {
    for (const h of handlers.get(channel) ?? []) h(message);
  });

  const k = (key: string) => prefix + key;

  // GETs of one event-loop turn go as one MGET. Each postback looks its click up, and requests
  // arrive in I/O callbacks of their own, so ioredis's auto-pipelining (flushed on nextTick, after
  // each callback) wrote one GET per postback: under load ~15% of the tracker's CPU was ioredis
  // and those socket writes.
  type Waiting = { key: string; resolve: (v: string | null) => void; reject: (e: unknown) => void };
  let gets: Waiting[] = [];
  const flushGets = () => {
    const batch = gets;
    gets = [];
    if (batch.length === 1) {
      client.get(batch[0].key).then(batch[0].resolve, batch[0].reject);
      return;
    }
    client.mget(batch.map((g) => g.key)).then(
      (values) => batch.forEach((g, i) => g.resolve(values[i] ?? null)),
      (err: unknown) => batch.forEach((g) => g.reject(err)),
    );
  };
  const ttl = (seconds: number) => Math.max(1, Math.round(seconds));
  const u = new URL(url);
  return {
    kind: 'redis',
    describe: `redis ${u.hostname}:${u.port || 6379}${u.pathname === '/' ? '' : u.pathname} (prefix "${prefix}")`,
    get(key) {
      return new Promise((resolve, reject) => {
        if (gets.push({ key: k(key), resolve, reject }) === 1) setImmediate(flushGets);
      });
    },
    async set(key, value, ttlSeconds) {
      await client.set(k(key), value, 'EX', ttl(ttlSeconds));
    },
    async setAndClaim(entries: readonly SetAndClaim[]) {
      if (entries.length === 0) return [];
      const keys: string[] = new Array(entries.length * 2);
      const argv: (string | number)[] = new Array(entries.length * 3);
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        keys[2 * i] = prefix + e.key;
        keys[2 * i + 1] = prefix + e.claimKey;
        argv[3 * i] = e.value;
        argv[3 * i + 1] = ttl(e.ttlSeconds);
        argv[3 * i + 2] = ttl(e.claimTtlSeconds);
      }
      const claimed = await client.tlSetAndClaim(keys.length, ...keys, ...argv);
      return claimed.map((n) => n === 1);
    },
    async del(key) {
      await client.del(k(key));
    },
    async publish(channel, message) {
      await client.publish(k(channel), message);
    },
    async subscribe(channel, onMessage) {
      const full = k(channel);
      let set = handlers.get(full);
      if (!set) {
        set = new Set();
        handlers.set(full, set);
        await subscriber.subscribe(full);
      }
      set.add(onMessage);
      return async () => {
        set!.delete(onMessage);
        if (set!.size === 0) {
          handlers.delete(full);
          await subscriber.unsubscribe(full).catch(() => undefined);
        }
      };
    },
    async ping() {
      await client.ping();
    },
    async close() {
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
