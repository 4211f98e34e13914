// In-process HotStore for a single instance (no REDIS_URL). lru-cache gives TTLs and a hard size
// bound, so a long-running tracker without Redis cannot grow without limit.
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { HotStore } from './hot-store.js';

export interface MemoryStoreOptions {
  maxEntries?: number;
}

export function createMemoryStore({ maxEntries = 1_000_000 }: MemoryStoreOptions = {}): HotStore {
  const cache = new LRUCache<string, string>({ max: maxEntries, ttlAutopurge: false });
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000));
  return {
    kind: 'memory',
    describe: 'in-process memory (single instance only)',
    async get(key) {
      return cache.get(key) ?? null;
    },
    async set(key, value, ttlSeconds) {
      cache.set(key, value, { ttl: ms(ttlSeconds) });
    },
    async setAndClaim(entries) {
      return entries.map((e) => {
        cache.set(e.key, e.value, { ttl: ms(e.ttlSeconds) });
        if (cache.has(e.claimKey)) return false;
        cache.set(e.claimKey, '1', { ttl: ms(e.claimTtlSeconds) });
        return true;
      });
    },
    async del(key) {
      cache.delete(key);
    },
    async publish(channel, message) {
      // Asynchronous like Redis: a publisher never runs its subscribers inline.
      setImmediate(() => bus.emit(channel, message));
    },
    async subscribe(channel, onMessage) {
      bus.on(channel, onMessage);
      return async () => {
        bus.off(channel, onMessage);
      };
    },
    async ping() {},
    async close() {
      cache.clear();
      bus.removeAllListeners();
    },
  };
}
