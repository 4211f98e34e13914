// Exact decimal arithmetic for money: payouts arrive as strings and are stored as NUMERIC, so they
// are never turned into JS floats (0.1 + 0.2 must stay 0.3 in a revenue sum). BigInt fixed-point
// with the schema's scale of 6 is all conversion and revshare need.

/** Decimal places kept in SQL (`numeric(18, 6)`). */
export const MONEY_SCALE = 6;
/** Digits before the point that `numeric(18, 6)` can hold. */
export const MONEY_INT_DIGITS = 12;

/** A plain non-negative decimal: digits, optionally a point and more digits. No sign, exponent or spaces. */
export const DECIMAL_RE = /^(\d{1,12})(?:\.(\d{1,12}))?$/;

interface Fixed {
  /** The value times 10^scale. */
  units: bigint;
  scale: number;
}

function parse(value: string, maxInt = 30): Fixed {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m || m[1].length > maxInt) throw new Error(`not a decimal: ${value}`);
  const frac = m[2] ?? '';
  return { units: BigInt(m[1] + frac), scale: frac.length };
}

/** Rounds half away from zero (values here are never negative) to `scale` places and formats. */
function format(units: bigint, fromScale: number, scale = MONEY_SCALE): string {
  let v = units;
  if (fromScale > scale) {
    const div = 10n ** BigInt(fromScale - scale);
    v = (v + div / 2n) / div;
  } else if (fromScale < scale) {
    v *= 10n ** BigInt(scale - fromScale);
  }
  const s = v.toString().padStart(scale + 1, '0');
  const int = s.slice(0, s.length - scale);
  const frac = s.slice(s.length - scale).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

/** True when `value` is a payout Tracklane accepts (see DECIMAL_RE). */
export function isMoney(value: string): boolean {
  return DECIMAL_RE.test(value);
}

/** No leading zero, at most MONEY_SCALE decimals, no trailing zero: what normalizeMoney returns. */
const CANONICAL_RE = /^(?:0|[1-9]\d{0,29})(?:\.\d{0,5}[1-9])?$/;

/** `value` in canonical form, rounded to MONEY_SCALE places. */
export function normalizeMoney(value: string): string {
  // Already canonical (a postback's payout is normalised once, then passes here twice more).
  if (CANONICAL_RE.test(value)) return value;
  const a = parse(value);
  return format(a.units, a.scale);
}

/** a * b, rounded to MONEY_SCALE places. */
export function multiply(a: string, b: string): string {
  const x = parse(a);
  const y = parse(b);
  return format(x.units * y.units, x.scale + y.scale);
}

/** `percent` % of `amount`, rounded to MONEY_SCALE places (revshare cost). */
export function percentOf(amount: string, percent: string): string {
  const x = parse(amount);
  const y = parse(percent);
  return format(x.units * y.units, x.scale + y.scale + 2);
}

/** True when the integer part fits numeric(18, 6). */
export function fitsMoney(value: string): boolean {
  const m = /^(\d+)/.exec(value);
  return !!m && m[1].replace(/^0+(?=\d)/, '').length <= MONEY_INT_DIGITS;
}

/** Sums decimal strings exactly (tests and reports of totals). */
export function sum(values: readonly string[]): string {
  let scale = 0;
  const parsed = values.map((v) => {
    const p = parse(v);
    scale = Math.max(scale, p.scale);
    return p;
  });
  let total = 0n;
  for (const p of parsed) total += p.units * 10n ** BigInt(scale - p.scale);
  return format(total, scale, Math.max(scale, 0));
}
