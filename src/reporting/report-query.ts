// Builds and runs a report: from the rollups when every dimension and filter is in one rollup
// set and the range is quarter-hour aligned, otherwise from raw visits and conversions inside
// the range. Both paths produce the same columns, so totals and rows agree to the last digit.
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../db/client.js';
import { badRequest } from '../http/errors.js';
import { visitParamSql } from '../tracking/stored-visit.js';
import { candidates, isQuarterAligned, planBuckets, QUARTER_MS, type Interval } from './bucket-plan.js';
import { foldRollupDeltas } from './rollup-deltas.js';
import {
  dayAfter,
  dimensionFields,
  isVarDimension,
  METRICS,
  MONEY_METRICS,
  MONEY_SCALE,
  RATIO_SCALE,
  QUARTER_HOUR_SETS,
  rollupSetFor,
  TIME_DIMENSIONS,
  type RollupSet,
  type Attribution,
  type Dimension,
  type Filters,
  type Metric,
  type TimeDimension,
  type TimePoint,
} from './report-spec.js';

export interface ReportRequest {
  from: TimePoint;
  to: TimePoint;
  tz: string;
  groupBy: Dimension[];
  attribution: Attribution;
  filters: Filters;
  sort?: string;
  order?: 'asc' | 'desc';
  page: number;
  /** null = every row (CSV export). */
  pageSize: number | null;
}

export type ReportRow = Record<string, unknown> & {
  conversionsByType: Record<string, number>;
  revenueByType: Record<string, string>;
};

export interface Report {
  rows: ReportRow[];
  totals: ReportRow;
  totalRows: number;
  /** Where the numbers came from, for logs and tests. */
  source: 'rollup' | 'raw';
}

export interface TimeRange {
  from: number;
  to: number;
}

const pointSql = (p: TimePoint, tz: string, isTo: boolean): SQL => {
  if (p.kind === 'instant') return sql`${p.iso}::timestamptz`;
  const local = p.kind === 'date' ? (isTo ? dayAfter(p.date) : `${p.date}T00:00:00`) : p.local;
  return sql`(${local}::timestamp at time zone ${tz})`;
};

/** Turns from/to into instants with Postgres's own zone data (the same the grouping uses). */
export async function resolveRange(db: Db, from: TimePoint, to: TimePoint, tz: string): Promise<TimeRange> {
  let r: { f: number; t: number };
  try {
    [r] = await rows<{ f: number; t: number }>(
      db,
      sql`select (extract(epoch from ${pointSql(from, tz, false)}) * 1000)::float8 as f, (extract(epoch from ${pointSql(to, tz, true)}) * 1000)::float8 as t`,
    );
  } catch (err) {
    // Postgres's own words, not the driver wrapper's (which quotes the whole statement, "at time zone" included).
    let e = err as Error & { cause?: unknown };
    while (e.cause instanceof Error) e = e.cause as Error & { cause?: unknown };
    // Only an unknown zone is the tz's fault; anything else (an offset or a year Postgres refuses) is the dates'.
    if (/time zone ".*" not recognized/i.test(e.message)) throw badRequest('tz', `tz: "${tz}" is not a time zone this database knows`);
    throw badRequest('from', `from/to: ${e.message}`);
  }
  if (!(r.t > r.f)) throw badRequest('to', 'to: must be after from');
  if (r.t - r.f > 400 * 86_400_000) throw badRequest('to', 'to: a report covers at most 400 days');
  return { from: r.f, to: r.t };
}

const ts = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;

export function timeDimExpr(d: TimeDimension, t: SQL, tz: string): SQL {
  const local = sql`(${t} at time zone ${tz})`;
  switch (d) {
    case 'day':
      return sql`to_char(${local}, 'YYYY-MM-DD')`;
    case 'hour':
      return sql`to_char(${local}, 'YYYY-MM-DD"T"HH24:00')`;
    case 'hourOfDay':
      return sql`extract(hour from ${local})::int`;
    case 'dayOfWeek':
      return sql`extract(isodow from ${local})::int`;
  }
}

const isTimeDim = (d: string): d is TimeDimension => (TIME_DIMENSIONS as readonly string[]).includes(d);

/**
 * Where a report reads: one rollup set over a bucket plan (quarter-hour intervals of a set without
 * a 15-minute grain are read from raw rows), or raw rows over the whole range.
 */
type Source = { kind: 'rollup'; set: RollupSet; plan: Interval[] } | { kind: 'raw' };

const ID_COLUMNS = { campaign: 'campaign_id', trafficSource: 'traffic_source_id', offer: 'offer_id', lander: 'lander_id', affiliateNetwork: 'affiliate_network_id' } as const;
const TEXT_COLUMNS = { country: 'country', device: 'device', os: 'os', browser: 'browser', language: 'language' } as const;
const RAW_COLUMNS = { adset: 'ts_adset', ad: 'ts_ad', placement: 'ts_placement', externalId: 'external_id' } as const;

/** The SQL values one dimension groups by (path has two), over a rollup or the raw table. */
function groupExprs(d: Dimension, rollup: boolean, time: SQL, tz: string, fromVisits = false): SQL[] {
  if (isTimeDim(d)) return [timeDimExpr(d, time, tz)];
  // visits keep role parameters in their role columns only; conversions copy the whole set.
  if (isVarDimension(d)) return [fromVisits ? visitParamSql(d.slice(4)) : sql`(params ->> ${d.slice(4)})`];
  if (d === 'path') return [sql.raw('rule_index::int'), sql.raw('path_index::int')];
  if (d in ID_COLUMNS) {
    const col = ID_COLUMNS[d as keyof typeof ID_COLUMNS];
    // The rollups store "none" as 0 (see schema.ts); campaign and traffic source are never none.
    return [rollup && d !== 'campaign' && d !== 'trafficSource' ? sql.raw(`nullif(${col}, 0)`) : sql.raw(col)];
  }
  if (d in TEXT_COLUMNS) {
    const col = TEXT_COLUMNS[d as keyof typeof TEXT_COLUMNS];
    return [rollup ? sql.raw(`nullif(${col}::text, '')`) : sql.raw(`${col}::text`)];
  }
  return [sql.raw(RAW_COLUMNS[d as keyof typeof RAW_COLUMNS])];
}

const inList = (values: (string | number)[]) => sql.join(values.map((v) => sql`${v}`), sql`, `);

function filterConds(filters: Filters, fromVisits = false): SQL[] {
  const conds: SQL[] = [];
  for (const [name, ids] of Object.entries(filters.ids)) conds.push(sql`${sql.raw(ID_COLUMNS[name as keyof typeof ID_COLUMNS])} in (${inList(ids)})`);
  for (const [name, values] of Object.entries(filters.texts)) conds.push(sql`${sql.raw(TEXT_COLUMNS[name as keyof typeof TEXT_COLUMNS])} in (${inList(values)})`);
  for (const [name, values] of Object.entries(filters.raws)) conds.push(sql`${sql.raw(RAW_COLUMNS[name as keyof typeof RAW_COLUMNS])} in (${inList(values)})`);
  for (const [name, values] of Object.entries(filters.vars)) conds.push(sql`${fromVisits ? visitParamSql(name) : sql`(params ->> ${name})`} in (${inList(values)})`);
  if (!filters.includeBots) conds.push(sql`is_bot = false`);
  return conds;
}

/**
 * The plan's buckets as one `bucket = any(starts)` per grain: a btree lookup per bucket on the
 * rollup key, where OR'd ranges (one per Kolkata day edge) made Postgres test every row against
 * sixty ranges.
 */
const planCond = (plan: Interval[]): SQL => {
  const grains = [...new Set(plan.map((i) => i.grain))];
  if (!grains.length) return sql`false`;
  return sql`(${sql.join(
    grains.map((g) => sql`(grain = ${g} and bucket = any(${sql.param(bucketStarts(plan.filter((i) => i.grain === g)))}::timestamptz[]))`),
    sql` or `,
  )})`;
};

const bucketStarts = (plan: Interval[]): string[] =>
  plan.flatMap((i) => Array.from({ length: (i.end - i.start) / (i.grain * 60_000) }, (_, k) => new Date(i.start + k * i.grain * 60_000).toISOString()));

const rangesCond = (column: SQL, plan: Interval[]): SQL =>
  sql`(${sql.join(
    plan.map((i) => sql`(${column} >= ${ts(i.start)} and ${column} < ${ts(i.end)})`),
    sql` or `,
  )})`;

/**
 * Every bucket start of a plan with its time-dimension values, so a rollup scan joins on the
 * bucket instead of converting each row's bucket to local time (a 30-day hourly plan has 720
 * starts, the rows it reads a hundred times more).
 */
function bucketLabels(plan: Interval[], timeDims: TimeDimension[], tz: string): SQL {
  const labels = sql.join(timeDims.map((d, k) => sql`${timeDimExpr(d, sql`s.b`, tz)} as ${sql.raw(`l${k}`)}`), sql`, `);
  // unnest of one array (not generate_series per interval) lets the planner count the starts.
  return sql`(select s.b, ${labels} from unnest(${sql.param(bucketStarts(plan))}::timestamptz[]) as s(b))`;
}

const where = (conds: SQL[]) => sql.join(conds, sql` and `);
/** GROUP BY the first n output columns, plus the conversion type (column n + 5) when asked. */
const groupBySql = (n: number, withType = false) => {
  const positions = Array.from({ length: n }, (_, i) => i + 1);
  if (withType) positions.push(n + 5);
  return positions.length ? sql` group by ${sql.raw(positions.join(', '))}` : sql``;
};

/** visits, unique, clicks, visit cost, type, approved/pending/declined counts, revenue, conversion cost */
function sourceUnion(req: ReportRequest, src: Source, range: TimeRange): { sql: SQL; width: number } {
  const { groupBy } = req;
  const width = groupBy.reduce((n, d) => n + (d === 'path' ? 2 : 1), 0);
  if (src.kind === 'raw') return { sql: rawParts(req, [{ grain: 15, start: range.from, end: range.to }]), width };
  const quarters = QUARTER_HOUR_SETS.has(src.set) ? [] : src.plan.filter((i) => i.grain === 15);
  const fromRollup = src.plan.filter((i) => !quarters.includes(i));
  const parts: SQL[] = [];
  if (fromRollup.length) parts.push(rollupParts(req, src.set, fromRollup));
  if (quarters.length) parts.push(rawParts(req, quarters));
  return { sql: sql.join(parts, sql` union all `), width };
}

const cols = (g: SQL[]) => (g.length ? sql`${sql.join(g.map((e, i) => sql`${e} as ${sql.raw(`g${i}`)}`), sql`, `)}, ` : sql``);

function rollupParts(req: ReportRequest, set: RollupSet, plan: Interval[]): SQL {
  const { tz, groupBy, filters, attribution } = req;
  const timeDims = groupBy.filter(isTimeDim);
  const join = timeDims.length ? sql` join ${bucketLabels(plan, timeDims, tz)} t on t.b = bucket` : sql``;
  const g = groupBy.flatMap((d) => (isTimeDim(d) ? [sql.raw(`t.l${timeDims.indexOf(d)}`)] : groupExprs(d, true, sql.raw('bucket'), tz)));
  const conds = filterConds(filters);
  const visitsPart = sql`select ${cols(g)}sum(visits)::float8 as v, sum(unique_visits)::float8 as u, sum(clicks)::float8 as c, sum(cost) as vcost,
        null::text as type, 0::float8 as conv, 0::float8 as pend, 0::float8 as decl, 0::numeric as rev, 0::numeric as ccost
      from report_visit_rollup${join} where ${where([sql`dim_set = ${set}`, planCond(plan), ...conds])}${groupBySql(g.length)}`;
  const convPart = sql`select ${cols(g)}0::float8, 0::float8, 0::float8, 0::numeric, type::text,
        coalesce(sum(conversions) filter (where status = 'approved'), 0)::float8,
        coalesce(sum(conversions) filter (where status = 'pending'), 0)::float8,
        coalesce(sum(conversions) filter (where status = 'declined'), 0)::float8,
        coalesce(sum(payout) filter (where status = 'approved'), 0),
        coalesce(sum(cost) filter (where status = 'approved'), 0)
      from report_conversion_rollup${join} where ${where([sql`attribution = ${attribution}`, sql`dim_set = ${set}`, planCond(plan), ...conds])}${groupBySql(g.length, true)}`;
  return sql`(${visitsPart}) union all (${convPart})`;
}

/** The same columns from raw visits and conversions whose time falls in `plan`'s intervals. */
function rawParts(req: ReportRequest, plan: Interval[]): SQL {
  const { tz, groupBy, filters, attribution } = req;
  const visitTime = sql.raw('visited_at');
  const convTime = sql.raw(attribution === 'visit' ? 'visited_at' : 'converted_at');
  const gv = groupBy.flatMap((d) => groupExprs(d, false, visitTime, tz, true));
  const gc = groupBy.flatMap((d) => groupExprs(d, false, convTime, tz));
  const conds = filterConds(filters);
  const visitConds = filterConds(filters, true);
  const visitsPart = sql`select ${cols(gv)}count(*)::float8 as v, count(*) filter (where is_unique)::float8 as u,
        sum(case when lander_id is null or exists (select 1 from lander_clicks lc where lc.click_id = visits.click_id) then 1 else 0 end)::float8 as c,
        sum(cost) as vcost, null::text as type, 0::float8 as conv, 0::float8 as pend, 0::float8 as decl, 0::numeric as rev, 0::numeric as ccost
      from visits where ${where([rangesCond(visitTime, plan), ...visitConds])}${groupBySql(gv.length)}`;
  const convPart = sql`select ${cols(gc)}0::float8, 0::float8, 0::float8, 0::numeric, type::text,
        count(*) filter (where status = 'approved')::float8,
        count(*) filter (where status = 'pending')::float8,
        count(*) filter (where status = 'declined')::float8,
        coalesce(sum(payout) filter (where status = 'approved'), 0),
        coalesce(sum(cost) filter (where status = 'approved'), 0)
      from conversions where ${where([rangesCond(convTime, plan), ...conds])}${groupBySql(gc.length, true)}`;
  return sql`(${visitsPart}) union all (${convPart})`;
}

/** Each metric as a numeric SQL expression over the aggregate (for sorting) and its output form. */
const cost = sql`(a.vcost + a.ccost)`;
const div = (num: SQL, den: SQL) => sql`(case when ${den} = 0 then 0 else ${num} / ${den} end)`;
const METRIC_SQL: Record<Metric, SQL> = {
  visits: sql`a.v`,
  uniqueVisits: sql`a.u`,
  clicks: sql`a.c`,
  ctr: div(sql`a.c::numeric * 100`, sql`a.v::numeric`),
  conversions: sql`a.conv`,
  pendingConversions: sql`a.pend`,
  declinedConversions: sql`a.decl`,
  revenue: sql`a.rev`,
  cost,
  profit: sql`(a.rev - ${cost})`,
  roi: div(sql`(a.rev - ${cost}) * 100`, cost),
  cr: div(sql`a.conv::numeric * 100`, sql`a.v::numeric`),
  epv: div(sql`a.rev`, sql`a.v::numeric`),
  epc: div(sql`a.rev`, sql`a.c::numeric`),
  cpv: div(cost, sql`a.v::numeric`),
  cpa: div(cost, sql`a.conv::numeric`),
};
const COUNT_METRICS = new Set<Metric>(['visits', 'uniqueVisits', 'clicks', 'conversions', 'pendingConversions', 'declinedConversions']);
const metricOutput = (m: Metric): SQL =>
  MONEY_METRICS.has(m)
    ? sql`round(${METRIC_SQL[m]}, ${sql.raw(String(MONEY_SCALE))})::text`
    : COUNT_METRICS.has(m)
      ? sql`${METRIC_SQL[m]}::float8`
      : sql`round(${METRIC_SQL[m]}, ${sql.raw(String(RATIO_SCALE))})::float8`;

const NAME_TABLES = { campaign: 'campaigns', offer: 'offers', lander: 'landers', trafficSource: 'traffic_sources', affiliateNetwork: 'affiliate_networks' } as const;

interface Column {
  field: string;
  expr: SQL;
}

/** Output columns of the dimensions (ids, names, values), the joins they need, and g-index use. */
function dimensionColumns(groupBy: Dimension[], filters?: Filters): { columns: Column[]; joins: SQL[] } {
  const columns: Column[] = [];
  const joins: SQL[] = [];
  let g = 0;
  const campaignIdx = groupBy.includes('campaign') ? groupBy.slice(0, groupBy.indexOf('campaign')).reduce((n, d) => n + (d === 'path' ? 2 : 1), 0) : -1;
  // Paths are a campaign's: their names are known when the rows hold the campaign, or when the
  // report is of one campaign (`groupBy=path&campaign=7`, the usual way to compare a campaign's paths).
  const onlyCampaign = filters?.ids.campaign?.length === 1 ? filters.ids.campaign[0] : undefined;
  const campaignOf = campaignIdx >= 0 ? sql.raw(`a.g${campaignIdx}`) : onlyCampaign !== undefined ? sql`${onlyCampaign}::int` : undefined;
  groupBy.forEach((d, i) => {
    const col = (k: number) => sql.raw(`a.g${k}`);
    if (d in NAME_TABLES) {
      const alias = sql.raw(`n${i}`);
      joins.push(sql`left join ${sql.raw(NAME_TABLES[d as keyof typeof NAME_TABLES])} ${alias} on ${alias}.id = ${col(g)}`);
      columns.push({ field: `${d}Id`, expr: col(g) }, { field: `${d}Name`, expr: sql`${alias}.name` });
      g += 1;
    } else if (d === 'path') {
      const r = col(g);
      const p = col(g + 1);
      const name = campaignOf
        ? sql`(select case when ${r} = -1 then c.flow -> 'paths' -> ${p} ->> 'name' else c.flow -> 'rules' -> ${r} -> 'paths' -> ${p} ->> 'name' end from campaigns c where c.id = ${campaignOf})`
        : sql`null::text`;
      columns.push({ field: 'ruleIndex', expr: r }, { field: 'pathIndex', expr: p }, { field: 'pathName', expr: name });
      g += 2;
    } else {
      columns.push({ field: d, expr: col(g) });
      g += 1;
    }
  });
  return { columns, joins };
}

function sortExpr(sort: string, groupBy: Dimension[], columns: Column[]): SQL {
  if ((METRICS as readonly string[]).includes(sort)) return METRIC_SQL[sort as Metric];
  // `campaign` sorts by the campaign's name, `path` by its indexes; a field sorts by itself.
  if (sort in NAME_TABLES) return columns.find((c) => c.field === `${sort}Name`)!.expr;
  if (sort === 'path') return columns.find((c) => c.field === 'ruleIndex')!.expr;
  const col = columns.find((c) => c.field === sort);
  if (!col) throw badRequest('sort', `sort: "${sort}" is not in this report`);
  void groupBy;
  return col.expr;
}

/** Decides rollup or raw, and for rollups which grain covers which part of the range. */
export async function chooseSource(db: Db, req: Pick<ReportRequest, 'groupBy' | 'filters' | 'tz'>, range: TimeRange): Promise<Source> {
  const set = rollupSetFor(req.groupBy, req.filters);
  if (set === null || !isQuarterAligned(range.from) || !isQuarterAligned(range.to)) return { kind: 'raw' };
  const timeDims = req.groupBy.filter(isTimeDim);
  const { days, hours } = candidates(range.from, range.to);
  let okDays = new Set(days);
  let okHours = new Set(hours);
  if (timeDims.length && (days.length || hours.length)) {
    // A coarse bucket may stand in for its quarters only if each time dimension is the same at
    // its first and its last quarter hour (local days and hours are contiguous).
    const same = (t: SQL, width: number) =>
      sql.join(
        timeDims.map((d) => sql`${timeDimExpr(d, t, req.tz)} = ${timeDimExpr(d, sql`(${t} + make_interval(mins => ${width - 15}))`, req.tz)}`),
        sql` and `,
      );
    const probe = (starts: number[], width: number) =>
      starts.length
        ? rows<{ t: number }>(
            db,
            sql`select (extract(epoch from s.t) * 1000)::float8 as t from (values ${sql.join(
              starts.map((s) => sql`(${ts(s)})`),
              sql`, `,
            )}) as s(t) where ${same(sql`s.t`, width)}`,
          ).then((r) => new Set(r.map((x) => Number(x.t))))
        : Promise.resolve(new Set<number>());
    // hourOfDay cycles: a UTC day can show the same local hour at its first and last quarter
    // (05:45 and 05:30 in Kathmandu) while holding all 24; it never fits in one day bucket.
    okDays = timeDims.includes('hourOfDay') ? new Set() : await probe(days, 1440);
    okHours = await probe(
      hours.filter((h) => !okDays.has(h - (h % 86_400_000))),
      60,
    );
  }
  return { kind: 'rollup', set, plan: planBuckets(range.from, range.to, (d) => okDays.has(d), (h) => okHours.has(h)) };
}

function toRow(raw: Record<string, unknown>, fields: string[]): ReportRow {
  const row: Record<string, unknown> = {};
  for (const f of fields) row[f] = raw[f] ?? null;
  for (const m of METRICS) row[m] = MONEY_METRICS.has(m) ? String(raw[m]) : Number(raw[m]);
  row.conversionsByType = Object.fromEntries(Object.entries((raw.cbt as Record<string, number>) ?? {}).map(([k, v]) => [k, Number(v)]));
  row.revenueByType = (raw.rbt as Record<string, string>) ?? {};
  return row as ReportRow;
}

function aggregateSql(req: ReportRequest, src: Source, range: TimeRange, groupBy: Dimension[]): { sql: SQL; width: number } {
  const u = sourceUnion({ ...req, groupBy }, src, range);
  const g = Array.from({ length: u.width }, (_, i) => sql.raw(`g${i}`));
  const gcols = g.length ? sql`${sql.join(g, sql`, `)}, ` : sql``;
  // A group's conversions of one type may come from a rollup part and a raw part: one row per
  // type before jsonb_object_agg, which would otherwise keep only the last.
  const byType = sql`select ${gcols}type, sum(v) as v, sum(u) as u, sum(c) as c, sum(vcost) as vcost, sum(conv) as conv, sum(pend) as pend,
      sum(decl) as decl, sum(rev) as rev, sum(ccost) as ccost
    from (${u.sql}) p group by ${g.length ? sql`${sql.join(g, sql`, `)}, ` : sql``}type`;
  return {
    width: u.width,
    sql: sql`select ${gcols}coalesce(sum(v), 0)::float8 as v, coalesce(sum(u), 0)::float8 as u, coalesce(sum(c), 0)::float8 as c,
        coalesce(sum(vcost), 0) as vcost, coalesce(sum(conv), 0)::float8 as conv, coalesce(sum(pend), 0)::float8 as pend,
        coalesce(sum(decl), 0)::float8 as decl, coalesce(sum(rev), 0) as rev, coalesce(sum(ccost), 0) as ccost,
        coalesce(jsonb_object_agg(type, conv) filter (where type is not null), '{}'::jsonb) as cbt,
        coalesce(jsonb_object_agg(type, round(rev, ${sql.raw(String(MONEY_SCALE))})::text) filter (where type is not null), '{}'::jsonb) as rbt
      from (${byType}) s${g.length ? sql` group by ${sql.join(g, sql`, `)}` : sql``}`,
  };
}

const metricColumns = () => sql.join(METRICS.map((m) => sql`${metricOutput(m)} as ${sql.identifier(m)}`), sql`, `);

/** `forceRaw` reads raw rows whatever the dimensions (to check the rollups against them). */
export async function runReport(db: Db, req: ReportRequest, range: TimeRange, opts: { forceRaw?: boolean } = {}): Promise<Report> {
  // Visits and conversions reach the rollups through deltas folded in the background
  // (rollup-deltas.ts); folding here first, committed before the report's own transaction, makes
  // the report count every row committed before it started.
  await foldRollupDeltas(db);
  // A month of hourly rollup rows is estimated above jit_above_cost, and compiling the query took
  // 1.7 s of a 2.2 s report (EXPLAIN ANALYZE at 1M visits) to save milliseconds of execution.
  return db.transaction(async (tx) => {
    await tx.execute(sql`set local jit = off`);
    return buildAndRun(tx as unknown as Db, req, range, opts);
  }) as Promise<Report>;
}

async function buildAndRun(db: Db, req: ReportRequest, range: TimeRange, opts: { forceRaw?: boolean }): Promise<Report> {
  const src: Source = opts.forceRaw ? { kind: 'raw' } : await chooseSource(db, req, range);
  const { columns, joins } = dimensionColumns(req.groupBy, req.filters);
  const fields = columns.map((c) => c.field);
  const agg = aggregateSql(req, src, range, req.groupBy);

  const firstTime = req.groupBy.find(isTimeDim);
  const sort = req.sort ?? (firstTime ? firstTime : 'visits');
  const order = req.order ?? (req.sort ? 'desc' : firstTime ? 'asc' : 'desc');
  const dir = sql.raw(order === 'asc' ? 'asc nulls first' : 'desc nulls last');
  const tiebreak = Array.from({ length: agg.width }, (_, i) => sql.raw(`a.g${i} asc nulls first`));
  const orderBy = sql.join([sql`${sortExpr(sort, req.groupBy, columns)} ${dir}`, ...tiebreak], sql`, `);
  const limit = req.pageSize === null ? sql`` : sql` limit ${req.pageSize} offset ${(req.page - 1) * req.pageSize}`;
  const dimCols = columns.length ? sql`${sql.join(columns.map((c) => sql`${c.expr} as ${sql.identifier(c.field)}`), sql`, `)}, ` : sql``;

  const pageSql = sql`with a as (${agg.sql})
    select ${dimCols}${metricColumns()}, a.cbt, a.rbt, count(*) over () as total_rows
    from a ${sql.join(joins, sql` `)}
    order by ${orderBy}${limit}`;
  // Totals have no time dimension, so their own plan reads whole UTC days where the rows need hours.
  const totalsSrc = src.kind === 'raw' || !req.groupBy.some(isTimeDim) ? src : await chooseSource(db, { ...req, groupBy: [] }, range);
  const totalsSql = sql`with a as (${aggregateSql(req, totalsSrc, range, []).sql}) select ${metricColumns()}, a.cbt, a.rbt from a`;

  const [pageRows, [totalsRaw]] = await Promise.all([rows<Record<string, unknown>>(db, pageSql), rows<Record<string, unknown>>(db, totalsSql)]);
  let totalRows = pageRows.length ? Number(pageRows[0].total_rows) : 0;
  if (!pageRows.length && req.page > 1 && req.pageSize !== null) {
    // Past the last page: the count still tells the client how many rows there are.
    const [c] = await rows<{ n: number }>(db, sql`with a as (${agg.sql}) select count(*)::float8 as n from a`);
    totalRows = Number(c.n);
  }
  return {
    rows: pageRows.map((r) => toRow(r, fields)),
    totals: toRow(totalsRaw, []),
    totalRows,
    source: src.kind,
  };
}

/** Quarter hours spanned; exported for the speed check's logging. */
export const quarters = (range: TimeRange) => (range.to - range.from) / QUARTER_MS;
