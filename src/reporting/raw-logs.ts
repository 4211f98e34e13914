// The raw logs behind the reports: visits, conversions and unattributed postbacks, newest first,
// with keyset cursors on (time, id) so paging never skips or repeats a row while data arrives.
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../db/client.js';
import { badRequest } from '../http/errors.js';
import type { Filters } from './report-spec.js';
import type { TimeRange } from './report-query.js';
import { visitParamSql, visitParamsSql, visitUserAgentSql } from '../tracking/stored-visit.js';

export type LogKind = 'clicks' | 'conversions' | 'pendingPostbacks';

export interface LogPage {
  items: Record<string, unknown>[];
  nextCursor: string | null;
}

const iso = (col: string) => sql.raw(`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const LOGS: Record<LogKind, { table: string; id: string; time: (attribution: 'visit' | 'postback') => string; columns: [string, SQL][] }> = {
  clicks: {
    table: 'visits',
    id: 'click_id',
    time: () => 'visited_at',
    columns: [
      ['clickId', sql.raw('click_id')],
      ['visitedAt', iso('visited_at')],
      ['campaignId', sql.raw('campaign_id')],
      ['trafficSourceId', sql.raw('traffic_source_id')],
      ['ruleIndex', sql.raw('rule_index::int')],
      ['pathIndex', sql.raw('path_index::int')],
      ['landerId', sql.raw('lander_id')],
      ['offerId', sql.raw('offer_id')],
      ['affiliateNetworkId', sql.raw('affiliate_network_id')],
      ['clicked', sql.raw('(lander_id is null or exists (select 1 from lander_clicks lc where lc.click_id = visits.click_id))')],
      ['country', sql.raw('country::text')],
      ['device', sql.raw('device')],
      ['os', sql.raw('os')],
      ['browser', sql.raw('browser')],
      ['language', sql.raw('language')],
      ['isBot', sql.raw('is_bot')],
      ['isUnique', sql.raw('is_unique')],
      ['cost', sql.raw('cost::text')],
      ['tsCampaign', sql.raw('ts_campaign')],
      ['adset', sql.raw('ts_adset')],
      ['ad', sql.raw('ts_ad')],
      ['placement', sql.raw('ts_placement')],
      ['externalId', sql.raw('external_id')],
      ['ip', sql.raw('ip')],
      ['userAgent', visitUserAgentSql()],
      ['referrerDomain', sql.raw('referrer_domain')],
      ['params', visitParamsSql()],
    ],
  },
  conversions: {
    table: 'conversions',
    id: 'id',
    time: (a) => (a === 'visit' ? 'visited_at' : 'converted_at'),
    columns: [
      ['id', sql.raw('id::float8')],
      ['clickId', sql.raw('click_id')],
      ['type', sql.raw('type')],
      ['txid', sql.raw('txid')],
      ['status', sql.raw('status')],
      ['payout', sql.raw('payout::text')],
      ['cost', sql.raw('cost::text')],
      ['originalPayout', sql.raw('original_payout::text')],
      ['originalCurrency', sql.raw('original_currency::text')],
      ['visitedAt', iso('visited_at')],
      ['convertedAt', iso('converted_at')],
      ['updatedAt', iso('updated_at')],
      ['campaignId', sql.raw('campaign_id')],
      ['trafficSourceId', sql.raw('traffic_source_id')],
      ['offerId', sql.raw('offer_id')],
      ['landerId', sql.raw('lander_id')],
      ['affiliateNetworkId', sql.raw('affiliate_network_id')],
      // The visit's path, visitor and ad: the same names as the click log, so an export of
      // conversions (for an offline-conversion upload, or per-ad payouts) needs no join.
      ['ruleIndex', sql.raw('rule_index::int')],
      ['pathIndex', sql.raw('path_index::int')],
      ['country', sql.raw('country::text')],
      ['device', sql.raw('device')],
      ['os', sql.raw('os')],
      ['browser', sql.raw('browser')],
      ['language', sql.raw('language')],
      ['isBot', sql.raw('is_bot')],
      ['tsCampaign', sql.raw('ts_campaign')],
      ['adset', sql.raw('ts_adset')],
      ['ad', sql.raw('ts_ad')],
      ['placement', sql.raw('ts_placement')],
      ['externalId', sql.raw('external_id')],
      ['params', sql.raw('params')],
      ['postbackParams', sql.raw('postback_params')],
    ],
  },
  pendingPostbacks: {
    table: 'pending_postbacks',
    id: 'id',
    time: () => 'received_at',
    columns: [
      ['id', sql.raw('id::float8')],
      ['clickId', sql.raw('click_id')],
      ['state', sql.raw('state')],
      ['receivedAt', iso('received_at')],
      ['attempts', sql.raw('attempts')],
      ['outcome', sql.raw('outcome')],
      ['sourceIp', sql.raw('source_ip')],
      ['rawParams', sql.raw('raw_params')],
    ],
  },
};

/** Cursor: base64url of "<UTC time with microseconds>|<id>" of the previous page's last row. */
export function encodeCursor(time: string, id: string): string {
  return Buffer.from(`${time}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string, kind?: LogKind): { time: string; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString();
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([A-Za-z0-9_-]{1,128})$/.exec(text);
  // A time that is no instant (month 13) or an id the log's key cannot hold (a bigint) would
  // reach Postgres and fail there as a 500; a forged cursor is the caller's mistake.
  const ms = m ? Date.parse(m[1]) : NaN;
  const timeOk = m !== null && ms >= 0 && new Date(ms).toISOString().slice(0, 23) === m[1].slice(0, 23);
  const idOk = m !== null && (kind === undefined || LOGS[kind].id !== 'id' || /^\d{1,18}$/.test(m[2]));
  if (!m || !timeOk || !idOk) throw badRequest('cursor', 'cursor: not a cursor this API returned');
  return { time: m[1], id: m[2] };
}

/** A log's columns as a select list, named as the API shows them. */
const selectList = (kind: LogKind) => sql.join(LOGS[kind].columns.map(([name, expr]) => sql`${expr} as ${sql.identifier(name)}`), sql`, `);

export interface LogQuery {
  kind: LogKind;
  range: TimeRange;
  filters: Filters;
  attribution: 'visit' | 'postback';
  cursor?: string;
  limit: number;
  /** Conversion log only: these statuses (all when absent). */
  statuses?: string[];
}

export async function readLog(db: Db, q: LogQuery): Promise<LogPage> {
  const log = LOGS[q.kind];
  const time = sql.raw(log.time(q.attribution));
  const id = sql.raw(log.id);
  const conds: SQL[] = [sql`${time} >= ${new Date(q.range.from).toISOString()}::timestamptz`, sql`${time} < ${new Date(q.range.to).toISOString()}::timestamptz`];
  if (q.kind !== 'pendingPostbacks') {
    const list = (v: (string | number)[]) => sql.join(v.map((x) => sql`${x}`), sql`, `);
    const idCols = { campaign: 'campaign_id', offer: 'offer_id', lander: 'lander_id', trafficSource: 'traffic_source_id', affiliateNetwork: 'affiliate_network_id' } as const;
    for (const [k, v] of Object.entries(q.filters.ids)) conds.push(sql`${sql.raw(idCols[k as keyof typeof idCols])} in (${list(v)})`);
    for (const [k, v] of Object.entries(q.filters.texts)) conds.push(sql`${sql.raw(k)} in (${list(v)})`);
    const rawCols = { adset: 'ts_adset', ad: 'ts_ad', placement: 'ts_placement', externalId: 'external_id' } as const;
    for (const [k, v] of Object.entries(q.filters.raws)) conds.push(sql`${sql.raw(rawCols[k as keyof typeof rawCols])} in (${list(v)})`);
    for (const [k, v] of Object.entries(q.filters.vars)) conds.push(sql`${q.kind === 'clicks' ? visitParamSql(k) : sql`(params ->> ${k})`} in (${list(v)})`);
    if (!q.filters.includeBots) conds.push(sql`is_bot = false`);
    if (q.kind === 'conversions' && q.statuses?.length) conds.push(sql`status in (${list(q.statuses)})`);
  } else {
    conds.push(sql`state <> 'attributed'`);
  }
  if (q.cursor) {
    const c = decodeCursor(q.cursor, q.kind);
    const idValue = log.id === 'id' ? sql`${c.id}::bigint` : sql`${c.id}`;
    // Microseconds, because Postgres keeps them and a millisecond cursor could skip rows.
    conds.push(sql`(${time}, ${id}) < (${c.time}::timestamptz, ${idValue})`);
  }
  const cols = selectList(q.kind);
  const found = await rows<Record<string, unknown>>(
    db,
    sql`select ${cols}, to_char(${time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_time, ${id}::text as cursor_id
      from ${sql.raw(log.table)} where ${sql.join(conds, sql` and `)}
      order by ${time} desc, ${id} desc limit ${q.limit + 1}`,
  );
  const more = found.length > q.limit;
  const page = found.slice(0, q.limit);
  const last = page.at(-1);
  return {
    items: page.map(({ cursor_time: _t, cursor_id: _i, ...rest }) => rest),
    nextCursor: more && last ? encodeCursor(String(last.cursor_time), String(last.cursor_id)) : null,
  };
}

export const logColumns = (kind: LogKind) => LOGS[kind].columns.map(([name]) => name);

/** One conversion as the log shows it, with every status it has had (oldest first); null when there is none. */
export async function readConversion(db: Db, id: number): Promise<Record<string, unknown> | null> {
  const [row] = await rows<Record<string, unknown>>(db, sql`select ${selectList('conversions')} from conversions where id = ${id}`);
  if (!row) return null;
  const history = await rows<Record<string, unknown>>(
    db,
    sql`select status, payout::text as payout, ${iso('changed_at')} as "changedAt" from conversion_status_history where conversion_id = ${id} order by changed_at, id`,
  );
  return { ...row, history };
}
