// Reading the narrow visits row back (see visits in src/db/schema.ts): the full parameter set and
// the user agent text, as SQL expressions over a row of `visits`, the same on both drivers.
import { eq, getTableColumns, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { visits } from '../db/schema.js';

const ROLE_ARGS = 'visits.params, visits.param_roles_hash, visits.ts_campaign, visits.ts_adset, visits.ts_ad, visits.ts_placement, visits.external_id';

/** Every query parameter of the visit, as jsonb (the role parameters put back by name). */
export const visitParamsSql = (): SQL => sql.raw(`tracklane_visit_params(${ROLE_ARGS})`);

/** One query parameter of the visit by name, as text (null when the visit had none). */
// The function (a lookup in visit_param_roles) runs only for a row whose params lack the name.
export const visitParamSql = (name: string): SQL =>
  sql`coalesce(visits.params ->> ${name}::text, case when visits.param_roles_hash is not null then tracklane_visit_param(${name}::text, ${sql.raw(ROLE_ARGS)}) end)`;

/** The visit's user agent text. */
export const visitUserAgentSql = (): SQL => sql.raw('(select ua.user_agent from user_agents ua where ua.hash = visits.user_agent_hash)');

/** A stored visit read back whole: every parameter in `params`, the user agent as text. */
export async function readStoredVisit(db: Db, clickId: string): Promise<StoredVisitRow | undefined> {
  const { userAgentHash: _u, paramRolesHash: _r, ...columns } = getTableColumns(visits);
  const [row] = await db
    .select({
      ...columns,
      params: visitParamsSql().mapWith((v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, string>),
      userAgent: visitUserAgentSql().mapWith((v: unknown) => (v === null ? null : String(v))),
    })
    .from(visits)
    .where(eq(visits.clickId, clickId))
    .limit(1);
  return row;
}

export type StoredVisitRow = Omit<typeof visits.$inferSelect, 'userAgentHash' | 'paramRolesHash'> & { userAgent: string | null };
