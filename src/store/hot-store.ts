// The small key-value and pub/sub surface Tracklane needs from Redis: hot click records,
// unique-visit markers, cache invalidation. With no REDIS_URL an in-process store stands in.

export interface HotStore {
  readonly kind: 'redis' | 'memory';
  /** For the start-up log (never includes a password). */
  readonly describe: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Sets only when absent; true when this call set it (a "first seen" check). */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  expire(key: string, ttlSeconds: number): Promise<void>;
  del(key: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
