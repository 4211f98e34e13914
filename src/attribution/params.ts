// Reads a postback's parameters: every alias networks use, strict validation (a forged or garbled
// payout must never be stored), and the status mapping. Pure functions, no I/O.
import type { ConversionStatus } from '../db/schema.js';
import { badRequest } from '../http/errors.js';
import { isMoney, normalizeMoney } from './decimal.js';

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
  payout: 32,
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
  /** Every parameter as received except the secret, for the conversion row and the unattributed list. */
  raw: Record<string, string>;
}

const TYPE_RE = /^[\p{L}\p{N}_.:-]{1,64}$/u;
const CURRENCY_RE = /^[A-Za-z]{3}$/;
// Control characters have no business in an ID and would garble logs and CSV exports.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** The parameters Tracklane reads; every other one is only kept with the conversion. */
const READ_PARAMS: ReadonlySet<string> = new Set(Object.values(PARAM_ALIASES).flat());

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
      const read = READ_PARAMS.has(key);
      let v = scalar(value);
      if (v === undefined) {
        const values = Array.isArray(value) ? value.map(scalar) : [];
        const first = values[0];
        if (read && first !== undefined && values.every((x) => x === first)) v = first;
        else if (read) throw badRequest(key, Array.isArray(value) ? `${key} is given more than once` : `${key} must be a plain value`);
        else v = values.length > 0 && values.every((x) => x !== undefined) ? values.join(',') : asJson(key, value);
      }
      if (Object.hasOwn(out, key) && out[key] !== v) {
        if (read) throw badRequest(key, `${key} is given more than once`);
        v = `${out[key]},${v}`;
      }
      out[key] = v;
    }
  }
  if (Object.keys(out).length > MAX_PARAMS) throw badRequest(undefined, `at most ${MAX_PARAMS} parameters`);
  return out;
}

function pick(params: Record<string, string>, field: ParamField): string | undefined {
  let found: { name: string; value: string } | undefined;
  for (const name of PARAM_ALIASES[field]) {
    const value = params[name]?.trim();
    if (value === undefined || value === '') continue;
    // Two aliases with different values (payout=1&sum=1000) is a garbled or forged request.
    if (found && found.value !== value) throw badRequest(name, `${name} and ${found.name} disagree`);
    found ??= { name, value };
  }
  if (!found) return undefined;
  if (found.value.length > MAX_LENGTH[field]) throw badRequest(found.name, `${found.name} is longer than ${MAX_LENGTH[field]} characters`);
  if (CONTROL_RE.test(found.value)) throw badRequest(found.name, `${found.name} contains control characters`);
  return found.value;
}

const fieldName = (params: Record<string, string>, field: ParamField) =>
  PARAM_ALIASES[field].find((n) => params[n]?.trim()) ?? PARAM_ALIASES[field][0];

/** Validates and normalises a postback; throws a 400 ApiError naming the offending parameter. */
export function parsePostbackParams(params: Record<string, string>): PostbackParams {
  for (const [key, value] of Object.entries(params)) {
    if (value.length > MAX_OTHER_LENGTH) throw badRequest(key, `${key} is longer than ${MAX_OTHER_LENGTH} characters`);
  }
  const clickId = pick(params, 'clickId');
  const payoutRaw = pick(params, 'payout');
  let payout: string | undefined;
  if (payoutRaw !== undefined) {
    // Only plain decimals: abc, -5, 1e400, NaN, Infinity, 0x10 and 1,5 are refused, not coerced.
    if (!isMoney(payoutRaw)) throw badRequest(fieldName(params, 'payout'), `${fieldName(params, 'payout')} must be a plain non-negative decimal such as 12.50`);
    payout = normalizeMoney(payoutRaw);
  }
  const currencyRaw = pick(params, 'currency');
  if (currencyRaw !== undefined && !CURRENCY_RE.test(currencyRaw)) throw badRequest('currency', 'currency must be an ISO 4217 code such as USD');
  const type = pick(params, 'type') ?? 'conversion';
  if (!TYPE_RE.test(type)) throw badRequest(fieldName(params, 'type'), 'type may contain letters, digits and _ . : - only');
  const status = pick(params, 'status');
  const raw = { ...params };
  delete raw.secret;
  return {
    clickId,
    payout,
    txid: pick(params, 'txid'),
    status,
    type,
    currency: currencyRaw?.toUpperCase(),
    secret: pick(params, 'secret'),
    raw,
  };
}

const DEFAULT_STATUS: Record<string, ConversionStatus> = {
  approved: 'approved',
  approve: 'approved',
  sale: 'approved',
  confirmed: 'approved',
  pending: 'pending',
  lead: 'pending',
  hold: 'pending',
  declined: 'declined',
  decline: 'declined',
  rejected: 'declined',
  reversed: 'declined',
  chargeback: 'declined',
};

/**
 * The network's own words first (its statusMap, case-insensitive), then the common ones. Absent
 * means approved (most networks only call on a sale). Unknown is undefined: the caller answers
 * 400 so the user adds the word to the network's statusMap instead of it being guessed.
 */
export function mapStatus(raw: string | undefined, statusMap: Record<string, ConversionStatus> = {}): ConversionStatus | undefined {
  if (raw === undefined || raw.trim() === '') return 'approved';
  const word = raw.trim();
  if (Object.hasOwn(statusMap, word)) return statusMap[word];
  const lower = word.toLowerCase();
  for (const [k, v] of Object.entries(statusMap)) if (k.toLowerCase() === lower) return v;
  return Object.hasOwn(DEFAULT_STATUS, lower) ? DEFAULT_STATUS[lower] : undefined;
}
