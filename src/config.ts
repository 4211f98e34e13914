// Every setting Tracklane reads, parsed once from the environment. A bad value stops start-up
// with one line naming the variable, so a typo in a deployment never half-starts a tracker.
import { z } from 'zod';
import { parseCidrList } from './http/ip.js';
import { isTimeZone } from './time-zone.js';

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `expected an integer ${min}-${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected an integer ${min}-${max}`);

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'yes', 'no', ''].includes(v), 'expected 1/0 or true/false')
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));

const connUrl = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return schemes.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `expected a ${schemes.map((s) => s.replace(':', '')).join(' or ')} URL`);

const timezone = z.string().trim().refine(isTimeZone, 'expected an IANA time zone such as UTC or America/New_York');

const currency = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{3}$/, 'expected an ISO 4217 currency code such as USD');

const cidrList = z.string().transform((v, ctx) => {
  try {
    return parseCidrList(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** The variables, their defaults and their meaning; README's configuration table mirrors this. */
const envSchema = z.object({
  PORT: int(1, 65535).default(8080),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PUBLIC_URL: httpUrl.optional(),
  /**
   * SameSite of the tlcid cookie. lax (the default) reaches /cta and pixels on the tracking domain's
   * own site; none also reaches the cookie pixel on an offer page of another site (a cross-site
   * request), where browsers still allow third-party cookies. None needs Secure, so https.
   */
  COOKIE_SAMESITE: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['lax', 'none'], { error: 'expected lax or none' }))
    .default('lax'),
  DATABASE_URL: connUrl(['postgres:', 'postgresql:']).optional(),
  DB_POOL_MAX: int(1, 1000).default(10),
  TRACKLANE_DATA_DIR: z.string().trim().min(1).default('./data'),
  REDIS_URL: connUrl(['redis:', 'rediss:']).optional(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{0,64}$/, 'expected up to 64 letters, digits or :_.-').default('tl:'),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60000).default(500),
  TRACKLANE_API_KEY: z.string().trim().min(16, 'expected at least 16 characters').optional(),
  TRUST_PROXY: cidrList.default([]),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ACCOUNT_CURRENCY: currency.default('USD'),
  ACCOUNT_TIMEZONE: timezone.default('UTC'),
  // tracking
  // Visits per COPY/insert; larger batches drain a backlog faster (2,000 -> 5,000: +8-10% rows/s, src/reporting/README.md).
  CLICK_BATCH_MAX: int(1, 100000).default(5000),
  CLICK_FLUSH_MS: int(10, 60000).default(250),
  CLICK_BUFFER_MAX: int(1000, 10_000_000).default(200_000),
  CLICK_SPILL_DIR: z.string().trim().min(1).optional(),
  /** Where postbacks wait, fsynced, while Postgres is away (default TRACKLANE_DATA_DIR/postback-spill). */
  POSTBACK_SPILL_DIR: z.string().trim().min(1).optional(),
  /** Where visits are written down: a thread of their own (Postgres + Redis only) or the answering thread. */
  CLICK_RECORDER: z.enum(['thread', 'inline']).default('thread'),
  UNIQUE_WINDOW_HOURS: int(1, 24 * 365).default(24),
  /** Raw visits older than this many days are deleted (never inside an offer's attribution window); 0 = keep all. */
  VISIT_RETENTION_DAYS: int(0, 36500).default(0),
  GEOIP_DB: z.string().trim().min(1).optional(),
  BOT_IP_DENYLIST: cidrList.default([]),
  /** Signs double-meta-refresh hops (/dm); set the same value on every instance, else each process picks a random one. */
  REDIRECT_SIGNING_SECRET: z.string().trim().min(16, 'expected at least 16 characters').optional(),
  // attribution
  ATTRIBUTION_RETRY_MINUTES: int(1, 7 * 24 * 60).default(60),
  OUTBOUND_ALLOW_PRIVATE: bool.default(false),
  OUTBOUND_TIMEOUT_MS: int(100, 120000).default(5000),
  /** How often this instance retries pending postbacks and delivers forwards; 0 = never (another instance does). */
  POSTBACK_WORKER_MS: int(0, 600000).default(2000),
  /**
   * How often this instance replays the postbacks it kept on disk while Postgres was away. Not
   * under POSTBACK_WORKER_MS: the spill is this instance's own, no other can replay it. 0 = never
   * (tests and tools that replay by hand).
   */
  POSTBACK_SPILL_REPLAY_MS: int(0, 600000).default(1000),
  /** Conversion insert batches (group commits) in flight at once; each holds a pool connection, so keep it below DB_POOL_MAX. */
  POSTBACK_INSERTS_IN_FLIGHT: int(1, 64).default(4),
  /**
   * How often this instance folds new visits and conversions into the report rollups (reports fold
   * first anyway); 0 = never. Unset: 5000 on Postgres, 1000 embedded (foldEveryMs, src/reporting/routes.ts).
   */
  ROLLUP_FOLD_MS: int(0, 600000).optional(),
  // process
  SHUTDOWN_TIMEOUT_MS: int(100, 600000).default(10000),
});

export type Env = z.input<typeof envSchema>;
export type ParsedEnv = z.output<typeof envSchema>;

export interface Config extends Omit<ParsedEnv, 'PUBLIC_URL'> {
  PUBLIC_URL: string;
}

export const CONFIG_VARIABLES = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`invalid ${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment. Empty strings count as unset, as docker-compose often passes them. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known: Record<string, string> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '') known[name] = value;
  }
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const cfg = parsed.data;
  const publicUrl = cfg.PUBLIC_URL ?? `http://localhost:${cfg.PORT}`;
  if (cfg.COOKIE_SAMESITE === 'none' && !publicUrl.startsWith('https:')) {
    throw new ConfigError('COOKIE_SAMESITE', 'none needs an https PUBLIC_URL (browsers refuse a SameSite=None cookie that is not Secure)');
  }
  return { ...cfg, PUBLIC_URL: publicUrl };
}

/** A config for tests and tools: defaults plus overrides, without reading process.env. */
export function configFrom(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig(overrides);
}
