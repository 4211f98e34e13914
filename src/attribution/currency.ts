// Currency rates the user sets (how many ACCOUNT_CURRENCY one unit of a currency is worth), the
// conversion of payouts with them, and an in-memory copy so a postback does not query for a rate.
import { asc, eq, sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../db/client.js';
import { currencyRates } from '../db/schema.js';
import type { HotStore } from '../store/hot-store.js';
import { multiply, normalizeMoney } from './decimal.js';

export const RATES_CHANNEL = 'currency-rates-changed';
/** A rate: a positive plain decimal, up to 12 digits on each side of the point (numeric(24, 12)). */
export const RATE_RE = /^\d{1,12}(\.\d{1,12})?$/;

export interface RateRow {
  currency: string;
  rate: string;
  updatedAt: Date;
}

export async function listRates(db: Db): Promise<RateRow[]> {
  return db.select().from(currencyRates).orderBy(asc(currencyRates.currency));
}

export async function setRate(db: Db, currency: string, rate: string): Promise<RateRow> {
  const [row] = await db
    .insert(currencyRates)
    .values({ currency, rate })
    .onConflictDoUpdate({ target: currencyRates.currency, set: { rate, updatedAt: sql`now()` } })
    .returning();
  return row;
}

export async function deleteRate(db: Db, currency: string): Promise<boolean> {
  const deleted = await db.delete(currencyRates).where(eq(currencyRates.currency, currency)).returning({ currency: currencyRates.currency });
  return deleted.length > 0;
}

export interface RateCache {
  /** `amount` (in `currency`) in ACCOUNT_CURRENCY, or undefined when no rate is set for `currency`. */
  toAccount(amount: string, currency: string): Promise<string | undefined>;
  /** After a write here: reload and tell the other instances. */
  changed(): Promise<void>;
  close(): Promise<void>;
}

export async function createRateCache({ db, store, log, accountCurrency }: { db: Db; store: HotStore; log: FastifyBaseLogger; accountCurrency: string }): Promise<RateCache> {
  let rates = new Map<string, string>();
  let loadedAt = 0;
  let loading: Promise<void> | undefined;
  const reload = () => {
    loading ??= (async () => {
      try {
        const list = await listRates(db);
        rates = new Map(list.map((r) => [r.currency, r.rate]));
        loadedAt = Date.now();
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  };
  await reload();
  const unsubscribe = await store
    .subscribe(RATES_CHANNEL, () => void reload().catch((err: Error) => log.warn({ err: err.message }, 'currency rate reload failed')))
    .catch(() => async () => undefined);
  // A missed message (Redis down) still arrives within a minute.
  const timer = setInterval(() => void reload().catch((err: Error) => log.debug({ err: err.message }, 'currency rate poll failed')), 60_000);
  timer.unref();

  return {
    async toAccount(amount, currency) {
      if (currency === accountCurrency) return normalizeMoney(amount);
      let rate = rates.get(currency);
      // A rate set a moment ago on another instance: look again, at most once a second.
      if (rate === undefined && Date.now() - loadedAt > 1000) {
        await reload();
        rate = rates.get(currency);
      }
      return rate === undefined ? undefined : multiply(amount, rate);
    },
    async changed() {
      await reload();
      await store.publish(RATES_CHANNEL, String(Date.now())).catch((err: Error) => log.warn({ err: err.message }, 'could not publish a currency rate change'));
    },
    async close() {
      clearInterval(timer);
      await unsubscribe();
    },
  };
}
