// What a report asks for, parsed and checked without I/O: dimensions, filters, time range words,
// sort. Every rejection names the query parameter at fault.
import { badRequest } from '../http/errors.js';
import { isTimeZone } from '../time-zone.js';

export type Attribution = 'visit' | 'postback';

/**
 * Dimensions stored in the rollups, and the rollup sets (`dim_set`) that carry each: set 0 is
 * campaign, traffic source and country (the sets all carry these); set 1 adds the traffic
 * dimensions; sets 2-5 add one visitor dimension each. See src/reporting/README.md.
 */
export const ROLLUP_DIMENSIONS = {
  campaign: [0, 1, 2, 3, 4, 5],
  trafficSource: [0, 1, 2, 3, 4, 5],
  country: [0, 1, 2, 3, 4, 5],
  offer: [1],
  lander: [1],
  affiliateNetwork: [1],
  path: [1],
  device: [2],
  os: [3],
  browser: [4],
  language: [5],
} as const satisfies Record<string, readonly RollupSet[]>;

export type RollupSet = 0 | 1 | 2 | 3 | 4 | 5;
/** Sets kept at 15 minutes; the others keep hours and days and read quarter hours from raw rows. */
export const QUARTER_HOUR_SETS: ReadonlySet<RollupSet> = new Set([0]);

export const TIME_DIMENSIONS = ['day', 'hour', 'hourOfDay', 'dayOfWeek'] as const;
/** Traffic-source roles and visit parameters: read from raw visits inside the date range. */
export const RAW_DIMENSIONS = ['adset', 'ad', 'placement', 'externalId'] as const;

export type RollupDimension = keyof typeof ROLLUP_DIMENSIONS;
export type TimeDimension = (typeof TIME_DIMENSIONS)[number];
export type RawDimension = (typeof RAW_DIMENSIONS)[number];
export type Dimension = RollupDimension | TimeDimension | RawDimension | `var:${string}`;

export const GROUP_BY_NAMES: readonly string[] = [...Object.keys(ROLLUP_DIMENSIONS), ...TIME_DIMENSIONS, ...RAW_DIMENSIONS, 'var:NAME'];

/** Visit parameter names a `var:NAME` may use (the same characters URL tokens allow). */
const VAR_NAME_RE = /^[A-Za-z0-9_.\-[\]]{1,64}$/;

export const ID_FILTERS = ['campaign', 'offer', 'lander', 'trafficSource', 'affiliateNetwork'] as const;
export const TEXT_FILTERS = ['country', 'device', 'os', 'browser', 'language'] as const;
export type IdFilter = (typeof ID_FILTERS)[number];
export type TextFilter = (typeof TEXT_FILTERS)[number];

export interface Filters {
  ids: Partial<Record<IdFilter, number[]>>;
  texts: Partial<Record<TextFilter, string[]>>;
  /** adset, ad, placement, externalId: the ad network's own values, matched exactly (raw rows). */
  raws: Partial<Record<RawDimension, string[]>>;
  /** var:NAME -> accepted values */
  vars: Record<string, string[]>;
  includeBots: boolean;
}

/** Additive and ratio metrics, in the order rows and CSV carry them. */
export const METRICS = [
  'visits',
  'uniqueVisits',
  'clicks',
  'ctr',
  'conversions',
  'pendingConversions',
  'declinedConversions',
  'revenue',
  'cost',
  'profit',
  'roi',
  'cr',
  'epv',
  'epc',
  'cpv',
  'cpa',
] as const;
export type Metric = (typeof METRICS)[number];
/** Metrics that are money: decimal strings with MONEY_SCALE digits. */
export const MONEY_METRICS: ReadonlySet<Metric> = new Set(['revenue', 'cost', 'profit', 'epv', 'epc', 'cpv', 'cpa']);
/** The storage scale of money: sums at this scale are exact, so totals equal the sum of rows. */
export const MONEY_SCALE = 6;
/** Percentages (ctr, cr, roi) are numbers rounded to this many decimals. */
export const RATIO_SCALE = 4;

export const isVarDimension = (d: string): d is `var:${string}` => d.startsWith('var:');

/** The output fields one dimension adds to a row, in order. */
export function dimensionFields(d: Dimension): string[] {
  switch (d) {
    case 'campaign':
    case 'offer':
    case 'lander':
    case 'trafficSource':
    case 'affiliateNetwork':
      return [`${d}Id`, `${d}Name`];
    case 'path':
      return ['ruleIndex', 'pathIndex', 'pathName'];
    default:
      return [d];
  }
}

export function parseList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function parseGroupBy(value: string | undefined): Dimension[] {
  const out: Dimension[] = [];
  for (const name of parseList(value)) {
    let d: Dimension;
    if (isVarDimension(name)) {
      if (!VAR_NAME_RE.test(name.slice(4))) throw badRequest('groupBy', `groupBy: "${name}" is not a valid var:NAME (letters, digits, _ . - [ ])`);
      d = name;
    } else if ((GROUP_BY_NAMES as string[]).includes(name) && name !== 'var:NAME') d = name as Dimension;
    else throw badRequest('groupBy', `groupBy: unknown dimension "${name}"; expected any of ${GROUP_BY_NAMES.join(', ')}`);
    if (!out.includes(d)) out.push(d);
  }
  if (out.length > 8) throw badRequest('groupBy', 'groupBy: at most 8 dimensions');
  return out;
}

export function parseFilters(query: Record<string, string | undefined>): Filters {
  const filters: Filters = { ids: {}, texts: {}, raws: {}, vars: {}, includeBots: false };
  for (const name of ID_FILTERS) {
    const list = parseList(query[name]);
    if (!list.length) continue;
    filters.ids[name] = list.map((v) => {
      if (!/^\d{1,9}$/.test(v)) throw badRequest(name, `${name}: "${v}" is not an id`);
      return Number(v);
    });
  }
  for (const name of TEXT_FILTERS) {
    const list = parseList(query[name]);
    if (!list.length) continue;
    // Visits store countries upper-case and device, OS, browser and language lower-case (as
    // reports show them), so `os=iOS` must match "ios" rather than silently narrow the report to nothing.
    filters.texts[name] = list.map((v) => (name === 'country' ? v.toUpperCase() : v.toLowerCase()));
    if (name === 'country') {
      const bad = filters.texts.country!.find((c) => !/^[A-Z]{2}$/.test(c));
      if (bad) throw badRequest('country', `country: "${bad}" is not a two-letter country code`);
    }
  }
  // Drilling down (an ad set's ads) needs the ad network's ids as filters, not only as groupings;
  // they are its own values (case matters), so they are matched as given.
  for (const name of RAW_DIMENSIONS) {
    const list = parseList(query[name]);
    if (list.length) filters.raws[name] = list;
  }
  for (const [key, value] of Object.entries(query)) {
    if (!isVarDimension(key) || value === undefined) continue;
    if (!VAR_NAME_RE.test(key.slice(4))) throw badRequest(key, `${key}: not a valid var:NAME`);
    const list = parseList(value);
    if (list.length) filters.vars[key.slice(4)] = list;
  }
  return filters;
}

/** A time given as a local date, a local date-time, or an absolute instant (Z or an offset). */
export type TimePoint = { kind: 'date'; date: string } | { kind: 'local'; local: string } | { kind: 'instant'; iso: string };

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$/;

function validDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  // Up to 9998: an inclusive `to` of 9999-12-31 would end in year 10000, which ISO strings cannot say.
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d && y >= 1970 && y < 9999;
}

/** `Z`, `+05:30`, `-0800`...: Postgres takes offsets up to ±15:59. */
function validOffset(offset: string | undefined): boolean {
  if (offset === undefined || offset === 'Z') return true;
  const m = /^[+-](\d{2}):?(\d{2})$/.exec(offset);
  return m !== null && +m[1] <= 15 && +m[2] <= 59;
}

export function parseTimePoint(field: 'from' | 'to', value: string | undefined): TimePoint {
  if (value === undefined || value === '') throw badRequest(field, `${field}: required (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])`);
  const v = value.trim();
  const date = DATE_RE.exec(v);
  if (date) {
    if (!validDate(+date[1], +date[2], +date[3])) throw badRequest(field, `${field}: "${value}" is not a calendar date`);
    return { kind: 'date', date: v };
  }
  const dt = DATETIME_RE.exec(v);
  if (!dt || !validDate(+dt[1], +dt[2], +dt[3]) || +dt[4] > 23 || +dt[5] > 59 || +(dt[6] ?? 0) > 59 || !validOffset(dt[8])) {
    throw badRequest(field, `${field}: "${value}" is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])`);
  }
  const local = `${dt[1]}-${dt[2]}-${dt[3]}T${dt[4]}:${dt[5]}:${dt[6] ?? '00'}${dt[7] ?? ''}`;
  return dt[8] ? { kind: 'instant', iso: local + (dt[8] === 'Z' ? 'Z' : dt[8]) } : { kind: 'local', local };
}

/** The local timestamp where an inclusive `to` date ends: the next day's midnight. */
export function dayAfter(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10) + 'T00:00:00';
}

export function checkTimeZone(tz: string): string {
  if (!isTimeZone(tz)) throw badRequest('tz', `tz: "${tz}" is not an IANA time zone (such as America/New_York)`);
  return tz;
}

/** Fields a report can be sorted by, given its dimensions. */
export function sortableFields(groupBy: Dimension[]): string[] {
  return [...groupBy.flatMap((d) => [d, ...dimensionFields(d)]), ...METRICS];
}

export function checkSort(sort: string | undefined, groupBy: Dimension[]): string | undefined {
  if (sort === undefined || sort === '') return undefined;
  if (!sortableFields(groupBy).includes(sort)) {
    throw badRequest('sort', `sort: "${sort}" is not a metric or a grouped dimension; expected one of ${sortableFields(groupBy).join(', ')}`);
  }
  return sort;
}

/** Which rollup set serves these dimensions and filters (the narrowest), or null when raw rows must be read. */
export function rollupSetFor(groupBy: Dimension[], filters: Filters): RollupSet | null {
  const used = new Set<string>(groupBy.filter((d) => !(TIME_DIMENSIONS as readonly string[]).includes(d)));
  for (const k of Object.keys(filters.ids)) used.add(k);
  for (const k of Object.keys(filters.texts)) used.add(k);
  if (Object.keys(filters.vars).length || Object.keys(filters.raws).length) return null;
  for (const set of [0, 1, 2, 3, 4, 5] as const) {
    if ([...used].every((d) => (ROLLUP_DIMENSIONS as Record<string, readonly number[]>)[d]?.includes(set))) return set;
  }
  return null;
}
