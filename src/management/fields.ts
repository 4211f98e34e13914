// Zod building blocks shared by the management schemas: URLs with tokens, money, currencies,
// weights, flows. Each rejects bad input with a message a media buyer can act on; the error
// handler turns the zod path into the `field` of the 400 (`flow.paths[0].offers[1].weight`).
import { z } from 'zod';
import { isValidCidr, normalizeCidr } from '../http/ip.js';
import { isTimeZone } from '../time-zone.js';
import { unknownTokens } from '../tracking/tokens.js';

export const Id = z.number().int().positive().max(2_147_483_647);
export const IdParam = z.object({ id: z.coerce.number().int().positive().max(2_147_483_647) });

export const Name = z.string().trim().min(1, 'a name is required').max(200);

/** Absolute http(s) URL; `{token}`s must be ones Tracklane fills (a typo is caught on save). */
export function templateUrl(knownTokens: readonly string[]) {
  return z
    .string()
    .trim()
    .min(1, 'a URL is required')
    .max(4096)
    .superRefine((value, ctx) => {
      const bad = unknownTokens(value, knownTokens);
      if (bad.length) {
        ctx.addIssue({ code: 'custom', message: `unknown token ${bad.join(', ')}; known tokens: ${knownTokens.map((t) => `{${t}}`).join(' ')} and {var:NAME}` });
        return;
      }
      // Tokens may stand for a host or path segment, so they are replaced before parsing.
      let url: URL;
      try {
        url = new URL(value.replace(/\{[^{}]*\}/g, 'x'));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected an absolute http(s) URL' });
        return;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        ctx.addIssue({ code: 'custom', message: `only http and https URLs are allowed, not ${url.protocol}` });
      } else if (!url.hostname) {
        ctx.addIssue({ code: 'custom', message: 'expected an absolute http(s) URL with a host' });
      }
    });
}

const MONEY_RE = /^\d{1,12}(\.\d{1,6})?$/;

/** A non-negative amount as a decimal string or a JSON number; kept as a string (NUMERIC in SQL), never a float. */
const MONEY_MESSAGE = 'expected a non-negative decimal amount such as "12.50" (up to 12 digits and 6 decimals)';

export const Money = z
  // null or true would otherwise be zod's bare "Invalid input".
  .union([z.string().trim(), z.number()], { error: MONEY_MESSAGE })
  .transform((v) => (typeof v === 'number' ? String(v) : v))
  .refine((v) => MONEY_RE.test(v), MONEY_MESSAGE);

/** `"1.500000"` (NUMERIC(18,6) as Postgres prints it) -> `"1.5"`. */
export function formatMoney(value: string): string;
export function formatMoney(value: string | null): string | null;
export function formatMoney(value: string | null): string | null {
  if (value === null) return null;
  return value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value;
}

const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
export const Currency = z
  .string()
  .trim()
  .toUpperCase()
  .refine((c) => /^[A-Z]{3}$/.test(c) && ISO_CURRENCIES.has(c), 'expected an ISO 4217 currency code such as USD or EUR');

export const Weight = z.number().positive('a weight must be greater than 0').max(1_000_000).finite();

// overwrite, not transform: a campaign's answer serialises its flow through this schema, and a
// one-way transform there made every answer holding an `ip` rule a 500.
export const Cidr = z
  .string()
  .trim()
  .refine(isValidCidr, 'expected an IP address or CIDR range such as 203.0.113.0/24')
  .overwrite((v) => (isValidCidr(v) ? normalizeCidr(v) : v));

/** A macro the other side fills in: no spaces, nothing that would end a query parameter. */
export const Macro = z
  .string()
  .trim()
  .max(200)
  .regex(/^[^\s&?]*$/, 'a macro cannot contain spaces, & or ?');

// ---------------------------------------------------------------- flow

const WeightedRef = z.strictObject({ id: Id, weight: Weight.optional() });

export const FlowPath = z.strictObject({
  name: z.string().trim().max(200).optional(),
  weight: Weight.optional(),
  landers: z.array(WeightedRef).max(100).optional(),
  offers: z.array(WeightedRef).min(1, 'a path needs at least one offer').max(100),
});

const values = (item: z.ZodType<string>) => z.array(item).min(1, 'list at least one value or leave the condition out').max(500);
const word = z.string().trim().min(1).max(100);

export const FlowWhen = z
  .strictObject({
    country: values(
      z
        .string()
        .trim()
        .toUpperCase()
        .regex(/^[A-Z]{2}$/, 'expected an ISO 3166 two-letter country code such as US'),
    ).optional(),
    device: values(word.toLowerCase()).optional(),
    os: values(word).optional(),
    browser: values(word).optional(),
    language: values(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^[a-z]{2,3}(-[a-z0-9]{2,8})?$/, 'expected a language code such as en or pt-br'),
    ).optional(),
    param: z.record(z.string().trim().min(1).max(64), values(z.string().max(500))).optional(),
    ip: values(Cidr).optional().describe('IP addresses or CIDR ranges of the visitor'),
    referrer: values(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/, 'expected a domain such as facebook.com'),
    )
      .optional()
      .describe('referrer domains; a subdomain matches too (facebook.com matches m.facebook.com)'),
    schedule: z
      .strictObject({
        tz: z
          .string()
          .max(64)
          .refine(isTimeZone, 'expected an IANA time zone such as America/New_York')
          .default('UTC')
          .describe('the zone of the days and hours; default UTC'),
        days: z.array(z.number().int().min(1).max(7)).min(1).max(7).optional().describe('ISO weekdays: 1 = Monday ... 7 = Sunday'),
        hours: z.array(z.number().int().min(0).max(23)).min(1).max(24).optional().describe('hours of the local day, 0-23 (9 = 09:00-09:59)'),
      })
      .refine((s) => s.days !== undefined || s.hours !== undefined, 'a schedule needs days, hours or both')
      .optional()
      .describe('dayparting: matches visits on these local weekdays and hours'),
  })
  .refine((w) => Object.values(w).some((v) => v !== undefined), 'a rule needs at least one condition');

export const FlowRule = z.strictObject({
  name: z.string().trim().max(200).optional(),
  when: FlowWhen,
  paths: z.array(FlowPath).min(1, 'a rule needs at least one path').max(100),
});

export const Flow = z
  .strictObject({
    rules: z.array(FlowRule).max(200).default([]),
    paths: z.array(FlowPath).min(1, 'the flow needs at least one default path').max(100),
  })
  .describe(
    'Rules are tried in order; the first whose `when` matches picks among its paths by weight, otherwise the default `paths` are used. A path without landers sends the visitor straight to an offer.',
  );

