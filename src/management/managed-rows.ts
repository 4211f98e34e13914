// What the five managed entities share: listing with filters and pages, optimistic concurrency
// (version -> ETag / If-Match), archive instead of delete, and telling the campaign cache.
import { and, count, desc, eq, ilike, inArray, ne, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { affiliateNetworks, campaigns, landers, offers, trafficSources } from '../db/schema.js';
import { badRequest, notFound, preconditionFailed } from '../http/errors.js';
import { z } from 'zod';

export type ManagedTable = typeof trafficSources | typeof affiliateNetworks | typeof offers | typeof landers | typeof campaigns;

/** What a plain management function needs: the database, a few settings, and the cache hook. */
export interface ManagementDeps {
  db: Db;
  publicUrl: string;
  accountCurrency: string;
  /** Called after every successful write: reloads the campaign cache here and on other instances. */
  changed(): Promise<void>;
}

// Strict: a filter the list does not have (`?trafficSourceId=3`) is a 400, not every row, so a
// tool that acts on what it lists never acts on campaigns it did not mean.
export const ListQuery = z.strictObject({
  page: z.coerce.number().int().min(1).default(1).describe('1-based page number'),
  pageSize: z.coerce.number().int().min(1).max(500).default(50).describe('items per page, at most 500'),
  name: z.string().trim().max(200).optional().describe('case-insensitive substring of the name'),
  status: z
    .enum(['active', 'paused', 'archived', 'all'])
    .optional()
    .describe('default: everything except archived; `all` includes archived'),
});
export type ListQuery = z.output<typeof ListQuery>;

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** `extra`: the entity's own filters (a campaign list by traffic source), already as conditions. */
export async function listRows<T extends ManagedTable>(db: Db, table: T, q: ListQuery, extra: SQL[] = []): Promise<Page<T['$inferSelect']>> {
  const t = table as typeof offers; // the shared columns have the same types on every managed table
  const conds: SQL[] = [...extra];
  if (q.name) conds.push(ilike(t.name, `%${escapeLike(q.name)}%`));
  if (q.status === undefined) conds.push(ne(t.status, 'archived'));
  else if (q.status !== 'all') conds.push(eq(t.status, q.status));
  const where = conds.length ? and(...conds) : undefined;
  const [totalRow, items] = await Promise.all([
    db.select({ n: count() }).from(t).where(where),
    db
      .select()
      .from(t)
      .where(where)
      .orderBy(desc(t.id))
      .limit(q.pageSize)
      .offset((q.page - 1) * q.pageSize),
  ]);
  return { items: items as T['$inferSelect'][], total: Number(totalRow[0]?.n ?? 0), page: q.page, pageSize: q.pageSize };
}

export async function getRow<T extends ManagedTable>(db: Db, table: T, id: number, what: string): Promise<T['$inferSelect']> {
  const t = table as typeof offers;
  const [row] = await db.select().from(t).where(eq(t.id, id)).limit(1);
  if (!row) throw notFound(what);
  return row as T['$inferSelect'];
}

/** A strong validator from id and version: it changes on every write. */
export const etagOf = (kind: string, row: { id: number; version: number }) => `"${kind}-${row.id}-v${row.version}"`;

/** True when an If-Match header (absent, `*`, or a list of tags, weak or strong) allows a write to `etag`. */
export function ifMatchAllows(header: string | undefined, etag: string): boolean {
  if (header === undefined || header.trim() === '') return true;
  const strip = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || strip(t) === strip(etag));
}

/**
 * Read, check If-Match, compute the change, write only if nobody wrote in between. Without
 * If-Match the last write wins: a concurrent write just makes us re-read and re-apply.
 */
export async function updateRow<T extends ManagedTable>(
  deps: ManagementDeps,
  table: T,
  opts: {
    id: number;
    what: string;
    kind: string;
    ifMatch?: string;
    /** Validates against the current row and returns the columns to set (may throw a 400). */
    change: (current: T['$inferSelect']) => Promise<Partial<T['$inferInsert']>>;
  },
): Promise<T['$inferSelect']> {
  const t = table as typeof offers;
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await getRow(deps.db, table, opts.id, opts.what);
    if (!ifMatchAllows(opts.ifMatch, etagOf(opts.kind, current))) {
      throw preconditionFailed(`the ${opts.what} changed since you read it (now ${etagOf(opts.kind, current)}); reload and retry`);
    }
    const set = await opts.change(current);
    const [row] = await deps.db
      .update(t)
      .set({ ...(set as object), version: sql`${t.version} + 1`, updatedAt: sql`now()` })
      .where(and(eq(t.id, opts.id), eq(t.version, current.version)))
      .returning();
    if (row) {
      await deps.changed();
      return row as T['$inferSelect'];
    }
  }
  throw preconditionFailed(`the ${opts.what} is being changed by someone else; retry`);
}

/** DELETE: archives (nothing visits or conversions point at is ever removed). Archiving twice is a no-op. */
export async function archiveRow<T extends ManagedTable>(
  deps: ManagementDeps,
  table: T,
  opts: { id: number; what: string; kind: string; ifMatch?: string },
): Promise<T['$inferSelect']> {
  const current = await getRow(deps.db, table, opts.id, opts.what);
  if (current.status === 'archived' && ifMatchAllows(opts.ifMatch, etagOf(opts.kind, current))) return current;
  return updateRow(deps, table, { ...opts, change: async () => ({ status: 'archived' }) as Partial<T['$inferInsert']> });
}

export async function insertRow<T extends ManagedTable>(deps: ManagementDeps, table: T, values: T['$inferInsert']): Promise<T['$inferSelect']> {
  const t = table as typeof offers;
  const [row] = await deps.db
    .insert(t)
    .values(values as typeof offers.$inferInsert)
    .returning();
  await deps.changed();
  return row as T['$inferSelect'];
}

/**
 * Checks that every referenced row exists and is not archived; the 400 names the first bad
 * reference's field. `refs` maps a field path to an id.
 */
export async function checkRefs(
  db: Db,
  table: ManagedTable,
  what: string,
  refs: { field: string; id: number }[],
  /** Ids already referenced before this write: archiving them later must not block other edits. */
  tolerateArchived: ReadonlySet<number> = new Set(),
): Promise<void> {
  if (refs.length === 0) return;
  const t = table as typeof offers;
  const ids = [...new Set(refs.map((r) => r.id))];
  const found = await db.select({ id: t.id, status: t.status }).from(t).where(inArray(t.id, ids));
  const status = new Map(found.map((r) => [r.id, r.status]));
  for (const ref of refs) {
    const s = status.get(ref.id);
    if (s === undefined) throw badRequest(ref.field, `${ref.field}: ${what} ${ref.id} does not exist`);
    if (s === 'archived' && !tolerateArchived.has(ref.id)) throw badRequest(ref.field, `${ref.field}: ${what} ${ref.id} is archived`);
  }
}

/** A unique-constraint violation, from either driver (drizzle wraps the driver error in `cause`). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}
