// Reads a postback's parameters: every alias networks use, strict validation (a forged or garbled
// payout must never be stored), and the status mapping. Pure functions, no I/O.
import { parse as parseQueryString } from 'node:querystring';
import type { ConversionStatus } from '../db/schema.js';
import { badRequest } from '../http/errors.js';
import { normalizeMoney } from './decimal.js';

/** Each field and the parameter names that carry it, in order of preference. */
export const PARAM_ALIASES = {
  clickId: ['cid', 'clickid', 'click_id', 'subid', 'cnv_id'],
  payout: ['payout', 'sum', 'revenue', 'rev', 'amount'],
  txid: ['txid', 'tid', 'tx', 'transaction_id'],
  status: ['status'],
  type: ['type', 'et', 'ct'],
  currency: ['currency'],
  secret: ['secret'],
} as const;

export type ParamField = keyof typeof PARAM_ALIASES;

/** Longest accepted value per field; anything else a network appends is capped at MAX_OTHER_LENGTH. */
const MAX_LENGTH: Record<ParamField, number> = {
  clickId: 128,
  payout: 33,
  txid: 128,
  status: 64,
  type: 64,
  currency: 3,
  secret: 256,
};
export const MAX_OTHER_LENGTH = 512;
export const MAX_PARAMS = 64;

export interface PostbackParams {
  clickId?: string;
  /** Canonical decimal string, or undefined for "the offer's default payout". */
  payout?: string;
  txid?: string;
  /** As sent (mapped later, with the network's statusMap). */
  status?: string;
  type: string;
  /** Upper-case ISO 4217, or undefined for "the offer's currency". */
  currency?: string;
  secret?: string;
  /** The parameter each field was read from (`sum`, `PAYOUT`), so an error names what the network sent. */
  names: Partial<Record<ParamField, string>>;
  /** Every parameter as received except the secret, for the conversion row and the unattributed list. */
  raw: Record<string, string>;
}

const TYPE_RE = /^[\p{L}\p{N}_.:-]{1,64}$/u;
/**
 * A plain non-negative decimal, as decimal.ts's isMoney, but with up to 20 places: a network that
 * computes in floats prints 0.1 + 0.2 as 0.30000000000000004. It is rounded to 6 places like any
 * payout; what is refused stays refused (signs, exponents, commas, letters).
 */
const PAYOUT_RE = /^\d{1,12}(?:\.\d{1,20})?$/;
const CURRENCY_RE = /^[A-Za-z]{3}$/;
// Control characters have no business in an ID and would garble logs and CSV exports.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** The field each parameter name Tracklane reads belongs to; every other parameter is only kept with the conversion. */
const FIELD_OF: ReadonlyMap<string, ParamField> = new Map(
  (Object.entries(PARAM_ALIASES) as [ParamField, readonly string[]][]).flatMap(([field, names]) => names.map((n) => [n, field] as const)),
);

/**
 * The alias a received name stands for. Names are matched without regard to case (a template
 * typed as `CID=...&Payout=...` must not have its payout silently replaced by the offer's), and
 * `amp;payout` is payout: a template copied out of an HTML page keeps its `&amp;` separators.
 */
export function aliasOf(name: string): string | undefined {
  if (FIELD_OF.has(name)) return name;
  let lower = name.toLowerCase();
  // Every `amp;`, not only one: a template escaped twice (`&amp;amp;secret=`) must still have its
  // secret read and kept out of the stored parameters, which read-only keys can see.
  while (lower.startsWith('amp;')) lower = lower.slice(4);
  return FIELD_OF.has(lower) ? lower : undefined;
}

// A macro name: what networks put between the delimiters (aff_sub, transaction_id, s2, status:mapping).
const NAME = String.raw`[A-Za-z_][\w.:-]{0,63}`;
/** {x} {{x}} %x% [x] #x# __X__ ${X}: the macro syntaxes of TUNE, Everflow, CAKE, Affise, Keitaro, Binom and the rest. */
const MACRO_RE = new RegExp(String.raw`^(?:\{${NAME}\}|\{\{\s*${NAME}\s*\}\}|%${NAME}%|\[${NAME}\]|#${NAME}#|__[A-Za-z][A-Za-z0-9_]{0,63}__|\$\{${NAME}\})$`);
/** First characters of the syntaxes above: anything else (every real payout) skips the regex. */
const MACRO_OPENERS = new Set(['{', '%', '[', '#', '_', '$']);

/**
 * True when `value` is a macro the network left unfilled (`{payout}`, `#price#`, `%TXID%`): its
 * postback template names a macro it has no value for, and sends the placeholder itself.
 */
export function isUnfilledMacro(value: string): boolean {
  return value.length > 2 && MACRO_OPENERS.has(value[0]) && MACRO_RE.test(value);
}

const scalar = (value: unknown): string | undefined => {
  if (typeof value === 'string') return value;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value);
  return undefined;
};

const asJson = (key: string, value: unknown): string => {
  try {
    return JSON.stringify(value);
  } catch {
    // Nested past the stack (a JSON bomb) or not JSON at all.
    throw badRequest(key, `${key} must be a plain value`);
  }
};

/**
 * Flattens a query string or body into single string values. A parameter Tracklane reads, given
 * twice with different values, is ambiguous (which payout is real?) and refused, as is a nested
 * one. Any other parameter is only kept, so its repeats are kept joined with commas and a nested
 * JSON value as JSON: a network's extra field must not cost the conversion.
 */
export function flattenParams(...sources: unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of sources) {
    if (source === undefined || source === null || source === '') continue;
    if (typeof source !== 'object' || Array.isArray(source)) throw badRequest(undefined, 'parameters must be a form, a query string or a JSON object');
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      if (key.length > 64) throw badRequest(key.slice(0, 64), 'parameter name is too long');
      if (value === null || value === undefined) continue;
      const read = aliasOf(key) !== undefined;
      let v = scalar(value);
      if (v === undefined) {
        const values = Array.isArray(value) ? value.map(scalar) : [];
        const first = values[0];
        if (read && first !== undefined && values.every((x) => x === first)) v = first;
        else if (read) throw badRequest(key, Array.isArray(value) ? `${key} is given more than once, with different values` : `${key} must be a plain value`);
        else v = values.length > 0 && values.every((x) => x !== undefined) ? values.join(',') : asJson(key, value);
      }
      if (Object.hasOwn(out, key) && out[key] !== v) {
        if (read) throw badRequest(key, `${key} is given more than once, with different values`);
        v = `${out[key]},${v}`;
      }
      out[key] = v;
    }
  }
  if (Object.keys(out).length > MAX_PARAMS) throw badRequest(undefined, `at most ${MAX_PARAMS} parameters`);
  return out;
}

/**
 * A `text/plain` body: some networks' HTTP clients label a form (`cid=...&payout=...`) or a JSON
 * object that way. Anything that is not a JSON object is read as a form, as a form parser would.
 */
export function parseTextBody(body: string): Record<string, unknown> | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw badRequest('body', 'body starts like JSON but is not a valid JSON object');
    }
  }
  return parseQueryString(text) as Record<string, unknown>;
}

interface Found {
  name: string;
  value: string;
}

/** Fields where an unfilled macro means "not sent", so the default applies (see isUnfilledMacro). */
const MACRO_MEANS_ABSENT: ReadonlySet<ParamField> = new Set(['payout', 'txid', 'status', 'type', 'currency']);

/** What is found for `field` once parameter `name` is looked at, given what was found before it. */
function consider(found: Found | undefined, field: ParamField, name: string, received: string): Found | undefined {
  const value = received.trim();
  if (value === '') return found;
  // Not for the click ID (the postback stays unattributed with its raw parameters, so the user
  // sees the template is wrong) nor the secret (it must match, whatever it looks like).
  if (MACRO_MEANS_ABSENT.has(field) && isUnfilledMacro(value)) return found;
  // Two aliases with different values (payout=1&sum=1000) is a garbled or forged request.
  if (found && found.value !== value) throw badRequest(name, `${name} and ${found.name} disagree`);
  return found ?? { name, value };
}

/** Reads one field from its aliases and their other spellings; records the name it was read from. */
function pick(params: Record<string, string>, field: ParamField, variants: readonly [ParamField, string][], names: PostbackParams['names']): string | undefined {
  let found: Found | undefined;
  for (const name of PARAM_ALIASES[field]) if (Object.hasOwn(params, name)) found = consider(found, field, name, params[name]);
  for (const [f, name] of variants) if (f === field) found = consider(found, field, name, params[name]);
  if (!found) return undefined;
  if (found.value.length > MAX_LENGTH[field]) throw badRequest(found.name, `${found.name} is longer than ${MAX_LENGTH[field]} characters`);
  if (CONTROL_RE.test(found.value)) throw badRequest(found.name, `${found.name} contains control characters`);
  names[field] = found.name;
  return found.value;
}

/** Validates and normalises a postback; throws a 400 ApiError naming the offending parameter. */
export function parsePostbackParams(params: Record<string, string>): PostbackParams {
  // Names read under another spelling (CID, amp;payout): rare, so usually empty.
  const variants: [ParamField, string][] = [];
  const raw = { ...params };
  for (const [key, value] of Object.entries(params)) {
    if (value.length > MAX_OTHER_LENGTH) throw badRequest(key, `${key} is longer than ${MAX_OTHER_LENGTH} characters`);
    const alias = aliasOf(key);
    if (alias === undefined) continue;
    const field = FIELD_OF.get(alias)!;
    if (alias !== key) variants.push([field, key]);
    if (field === 'secret') delete raw[key];
  }
  const names: PostbackParams['names'] = {};
  const clickId = pick(params, 'clickId', variants, names);
  const payoutRaw = pick(params, 'payout', variants, names);
  let payout: string | undefined;
  if (payoutRaw !== undefined) {
    // Only plain decimals: abc, -5, 1e400, NaN, Infinity, 0x10 and 1,5 are refused, not coerced.
    if (!PAYOUT_RE.test(payoutRaw)) throw badRequest(names.payout, `${names.payout} must be a plain non-negative decimal such as 12.50`);
    payout = normalizeMoney(payoutRaw);
  }
  const currency = pick(params, 'currency', variants, names);
  if (currency !== undefined && !CURRENCY_RE.test(currency)) throw badRequest(names.currency, `${names.currency} must be an ISO 4217 code such as USD`);
  const type = pick(params, 'type', variants, names);
  if (type !== undefined && !TYPE_RE.test(type)) throw badRequest(names.type, `${names.type} may contain letters, digits and _ . : - only`);
  return {
    clickId,
    payout,
    txid: pick(params, 'txid', variants, names),
    status: pick(params, 'status', variants, names),
    type: type ?? 'conversion',
    currency: currency?.toUpperCase(),
    secret: pick(params, 'secret', variants, names),
    names,
    raw,
  };
}

const DEFAULT_STATUS: Record<string, ConversionStatus> = {
  approved: 'approved',
  approve: 'approved',
  sale: 'approved',
  confirmed: 'approved',
  paid: 'approved',
  success: 'approved',
  completed: 'approved',
  complete: 'approved',
  accepted: 'approved',
  pending: 'pending',
  lead: 'pending',
  hold: 'pending',
  declined: 'declined',
  decline: 'declined',
  rejected: 'declined',
  reject: 'declined',
  reversed: 'declined',
  chargeback: 'declined',
  invalid: 'declined',
  trash: 'declined',
  fraud: 'declined',
  refund: 'declined',
  refunded: 'declined',
  cancelled: 'declined',
  canceled: 'declined',
};

/**
 * The network's own words first (its statusMap, case-insensitive), then the common ones. Absent
 * means approved (most networks only call on a sale). Unknown is undefined: the caller answers
 * 400 so the user adds the word to the network's statusMap instead of it being guessed. Numeric
 * codes are never guessed: 2 is pending at Affise and declined elsewhere.
 */
export function mapStatus(raw: string | undefined, statusMap: Record<string, ConversionStatus> = {}): ConversionStatus | undefined {
  if (raw === undefined || raw.trim() === '') return 'approved';
  const word = raw.trim();
  if (Object.hasOwn(statusMap, word)) return statusMap[word];
  const lower = word.toLowerCase();
  for (const [k, v] of Object.entries(statusMap)) if (k.toLowerCase() === lower) return v;
  return Object.hasOwn(DEFAULT_STATUS, lower) ? DEFAULT_STATUS[lower] : undefined;
}
