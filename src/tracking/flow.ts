// The campaign flow: the first rule whose conditions all match, else the default paths; then a
// weighted random choice of path, and of lander and offer inside it. Pure functions: the random
// source is an argument so tests can check the split without HTTP.
import type { Flow, FlowPath, FlowRule, FlowWeighted } from '../db/schema.js';
import { cidrMatcher } from '../http/ip.js';

export type Random = () => number;

export interface FlowFacts {
  country: string | null;
  device: string | null;
  os: string | null;
  browser: string | null;
  /** The primary language subtag (`pt`), as stored with the visit. */
  language: string | null;
  /** The first language as sent, lower case (`pt-br`): a rule on `pt-br` needs the region. Absent: `language`. */
  languageTag?: string | null;
  params: Record<string, string>;
  /** The visit's time, for schedule rules (now when absent). */
  at?: Date;
  ip?: string;
  referrerDomain?: string | null;
}

const norm = (v: string) => v.trim().toLowerCase();

function matchesList(list: string[] | undefined, value: string | null): boolean {
  if (!list || list.length === 0) return true;
  if (value === null) return false;
  const v = norm(value);
  return list.some((x) => norm(x) === v);
}

/**
 * A rule's `en` matches every English visitor (`en`, `en-us`, `en-gb`); `pt-br` only Brazilian
 * Portuguese (`pt-br`, `pt-br-...`), as language ranges match tags (RFC 4647 basic filtering).
 */
function matchesLanguage(list: string[] | undefined, language: string | null, tag: string | null | undefined): boolean {
  if (!list || list.length === 0) return true;
  if (language === null) return false;
  const primary = norm(language);
  const full = tag ? norm(tag) : primary;
  return list.some((x) => {
    const range = norm(x);
    return range.includes('-') ? full === range || full.startsWith(`${range}-`) : range === primary;
  });
}

export function ruleMatches(rule: FlowRule, facts: FlowFacts): boolean {
  const w = rule.when ?? {};
  if (!matchesList(w.country, facts.country)) return false;
  if (!matchesList(w.device, facts.device)) return false;
  if (!matchesList(w.os, facts.os)) return false;
  if (!matchesList(w.browser, facts.browser)) return false;
  if (!matchesLanguage(w.language, facts.language, facts.languageTag)) return false;
  for (const [name, values] of Object.entries(w.param ?? {})) {
    // Parameter values are compared exactly: they are IDs the traffic source sends, not words.
    // Own parameters only: a rule on `constructor` must not read Object.prototype.
    if (values.length > 0 && !values.includes(Object.hasOwn(facts.params, name) ? facts.params[name] : '')) return false;
  }
  if (w.ip && !ipMatcher(w.ip)(facts.ip ?? '')) return false;
  if (w.referrer && !referrerMatches(w.referrer, facts.referrerDomain ?? null)) return false;
  if (w.schedule) {
    const { day, hour } = localDayHour(w.schedule.tz ?? 'UTC', facts.at ?? new Date());
    if (w.schedule.days && !w.schedule.days.includes(day)) return false;
    if (w.schedule.hours && !w.schedule.hours.includes(hour)) return false;
  }
  return true;
}

// A rule's CIDR list, compiled once: the flow objects live as long as the campaign cache holds them.
const ipMatchers = new WeakMap<readonly string[], (ip: string) => boolean>();
function ipMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  let m = ipMatchers.get(cidrs);
  if (!m) {
    m = cidrMatcher(cidrs);
    ipMatchers.set(cidrs, m);
  }
  return m;
}

function referrerMatches(domains: readonly string[], domain: string | null): boolean {
  if (domain === null) return false;
  const d = domain.toLowerCase();
  return domains.some((x) => d === x || d.endsWith(`.${x}`));
}

const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const QUARTER_HOUR_MS = 15 * 60_000;
const formats = new Map<string, Intl.DateTimeFormat>();
/**
 * Per zone, the last answer and the UTC quarter hour it holds for: every zone's offset and every DST
 * change fall on a UTC quarter hour, so within one the local weekday and hour cannot change, and
 * formatToParts (a few µs) runs once per zone per quarter hour instead of once per visit.
 */
const lastLocal = new Map<string, { from: number; day: number; hour: number }>();

/** ISO weekday (1 = Monday) and hour (0-23) of `at` in zone `tz`. */
export function localDayHour(tz: string, at: Date): { day: number; hour: number } {
  const t = at.getTime();
  const from = Math.floor(t / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
  const hit = lastLocal.get(tz);
  if (hit && hit.from === from) return hit;
  let format = formats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: 'numeric', hourCycle: 'h23' });
    formats.set(tz, format);
  }
  let day = 0;
  let hour = 0;
  for (const part of format.formatToParts(at)) {
    if (part.type === 'weekday') day = WEEKDAY[part.value];
    else if (part.type === 'hour') hour = Number(part.value);
  }
  const local = { from, day, hour };
  lastLocal.set(tz, local);
  return local;
}

const weightOf = (item: { weight?: number }) => (item.weight === undefined ? 1 : Math.max(0, item.weight));

/** Index of a weighted choice; weight defaults to 1, 0 means never. -1 when nothing can be chosen. */
export function chooseWeighted(items: readonly { weight?: number }[], random: Random): number {
  let total = 0;
  for (const it of items) total += weightOf(it);
  if (items.length === 0) return -1;
  if (total <= 0) return -1;
  let r = random() * total;
  for (let i = 0; i < items.length; i++) {
    const w = weightOf(items[i]);
    if (w <= 0) continue;
    if (r < w) return i;
    r -= w;
  }
  // Floating-point leftovers land on the last choosable item.
  for (let i = items.length - 1; i >= 0; i--) if (weightOf(items[i]) > 0) return i;
  return -1;
}

export interface FlowChoice {
  /** -1 = the default paths. */
  ruleIndex: number;
  pathIndex: number;
  path: FlowPath;
  landerId: number | null;
  offerId: number | null;
}

const NO_SKIP: ReadonlySet<number> = new Set();

function pick(list: FlowWeighted[] | undefined, random: Random): number | null {
  if (!list || list.length === 0) return null;
  const i = chooseWeighted(list, random);
  return i < 0 ? null : list[i].id;
}

/** `pick` among the offers not in `skip`; when every choosable offer is skipped, among all of them (traffic is never dropped for a cap). */
export function chooseOffer(list: FlowWeighted[], random: Random, skip: ReadonlySet<number> = NO_SKIP): number | null {
  if (skip.size === 0 || !list.some((o) => skip.has(o.id))) return pick(list, random);
  const open = list.map((o) => (skip.has(o.id) ? { id: o.id, weight: 0 } : o));
  const i = chooseWeighted(open, random);
  return i < 0 ? pick(list, random) : list[i].id;
}

// No closure per call: under tsx (esbuild keepNames) every named closure is wrapped in a
// defineProperty call, and `pick` made chooseFlow ~2% of /click's CPU with a one-path flow.
/** `skipOffers`: offers at their daily cap (see offer-caps.ts). */
export function chooseFlow(flow: Flow, facts: FlowFacts, random: Random, skipOffers: ReadonlySet<number> = NO_SKIP): FlowChoice | undefined {
  let ruleIndex = -1;
  let paths = flow.paths;
  const rules = flow.rules;
  if (rules) {
    for (let i = 0; i < rules.length; i++) {
      if (ruleMatches(rules[i], facts)) {
        ruleIndex = i;
        paths = rules[i].paths;
        break;
      }
    }
  }
  const pathIndex = chooseWeighted(paths, random);
  if (pathIndex < 0) return undefined;
  const path = paths[pathIndex];
  return { ruleIndex, pathIndex, path, landerId: pick(path.landers, random), offerId: chooseOffer(path.offers, random, skipOffers) };
}
