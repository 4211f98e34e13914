// API keys: random, shown once, stored as sha256 hashes. Lookups go by hash, so the clear key is
// never compared byte by byte; the bootstrap key from the environment is compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { apiKeys, type ApiKeyScope } from '../db/schema.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

export function generateKey(): string {
  const bytes = randomBytes(32);
  let body = '';
  // 62^32 > 2^190: rejection-free mapping is biased by < 1%, irrelevant at this length.
  for (const b of bytes) body += ALPHABET[b % 62];
  return `tl_${body}`;
}

export interface ApiKeyInfo {
  id: number;
  name: string;
  keyPrefix: string;
  scope: ApiKeyScope;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export async function createApiKey(db: Db, name: string, scope: ApiKeyScope = 'admin'): Promise<{ id: number; key: string }> {
  const key = generateKey();
  const [row] = await db
    .insert(apiKeys)
    .values({ name, keyHash: hashKey(key), keyPrefix: key.slice(0, 10), scope })
    .returning({ id: apiKeys.id });
  return { id: row.id, key };
}

export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  return db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      keyPrefix: apiKeys.keyPrefix,
      scope: apiKeys.scope,
      createdAt: apiKeys.createdAt,
      lastUsedAt: apiKeys.lastUsedAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .orderBy(desc(apiKeys.id));
}

/** Revokes by id; returns false when no active key has that id. */
export async function revokeApiKey(db: Db, id: number): Promise<boolean> {
  const r = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return r.length > 0;
}

function constantTimeEqual(a: string, b: string): boolean {
  // Comparing digests keeps the comparison constant-time even when the lengths differ.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export type KeyCheck = { ok: true; keyId: number | null; scope: ApiKeyScope } | { ok: false };

export async function verifyApiKey(db: Db, presented: string, bootstrapKey?: string): Promise<KeyCheck> {
  if (!presented || presented.length > 256) return { ok: false };
  if (bootstrapKey && constantTimeEqual(presented, bootstrapKey)) return { ok: true, keyId: null, scope: 'admin' };
  const [row] = await db
    .select({ id: apiKeys.id, scope: apiKeys.scope, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashKey(presented)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) return { ok: false };
  await noteUse(db, row.id, row.lastUsedAt);
  return { ok: true, keyId: row.id, scope: row.scope };
}

/** How stale `lastUsedAt` may get: a write per key a minute, not per request. */
export const LAST_USED_EVERY_MS = 60_000;

/**
 * Keeps `lastUsedAt` (listed by GET /api/api-keys, so an owner can tell a key
 * still in use from one to revoke) to the minute.
 */
async function noteUse(db: Db, id: number, lastUsedAt: Date | null): Promise<void> {
  if (lastUsedAt !== null && Date.now() - lastUsedAt.getTime() < LAST_USED_EVERY_MS) return;
  try {
    await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, id));
  } catch {
    // Bookkeeping only: a refused write (a read-only replica, a lock timeout) must not refuse a
    // valid key, and the next request a minute on tries again.
  }
}

/** The key from `api-key: KEY` or `Authorization: Bearer KEY`, if either is present. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string {
  const direct = headers['api-key'];
  if (typeof direct === 'string' && direct) return direct.trim();
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1].trim();
  }
  return '';
}
