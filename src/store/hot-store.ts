// The small key-value and pub/sub surface Tracklane needs from Redis: hot click records,
// unique-visit markers, cache invalidation. With no REDIS_URL an in-process store stands in.

/** One SET plus one SET NX, as /click records a visit: its hot record and its unique-visit marker. */
export interface SetAndClaim {
  key: string;
  value: string;
  ttlSeconds: number;
  /** Set to '1' only when absent. */
  claimKey: string;
  claimTtlSeconds: number;
}

export interface HotStore {
  readonly kind: 'redis' | 'memory';
  /** For the start-up log (never includes a password). */
  readonly describe: string;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * For each entry, sets `key` and claims `claimKey` (set only when absent), all in one round trip;
   * resolves with, per entry, whether its claim was new. Rejects as a whole when the store fails.
   */
  setAndClaim(entries: readonly SetAndClaim[]): Promise<boolean[]>;
  del(key: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
