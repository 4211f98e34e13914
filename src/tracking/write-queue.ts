// A write-behind queue for one table: rows wait in memory and go to Postgres as one INSERT per
// batch (at `batchMax` rows or every `flushMs`). While Postgres is down or slow the rows stay in
// memory up to `bufferMax`, then the oldest are spilled to NDJSON files and replayed once
// Postgres answers again. Inserts are idempotent, so a retried or replayed batch never duplicates.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { isDataError } from '../db/errors.js';

export interface QueueStats {
  /** Rows in memory now, waiting for Postgres. */
  buffered: number;
  written: number;
  batches: number;
  failedBatches: number;
  /** Rows moved to spill files because memory was full (or at shutdown with Postgres down). */
  spilled: number;
  /** Spilled rows written to Postgres since. */
  replayed: number;
  /** Rows lost, by reason. Non-zero only when both Postgres and the spill directory failed. */
  dropped: Record<string, number>;
  spillFilesPending: number;
  postgresHealthy: boolean;
  lastError: string | null;
  oldestBufferedMs: number | null;
}

export interface WriteQueueOptions<T> {
  /** Table name, used for spill file names and logs. */
  name: string;
  write(rows: T[]): Promise<void>;
  /** Revives a row read back from a spill file (dates come back as strings). */
  revive(row: Record<string, unknown>): T;
  keyOf(row: T): string;
  batchMax: number;
  flushMs: number;
  bufferMax: number;
  spillDir: string;
  /** A write slower than this counts as failed and is retried (idempotently). */
  writeTimeoutMs?: number;
  log: FastifyBaseLogger;
  now?: () => number;
}

const MAX_BACKOFF_MS = 5000;


function sqlMessage(err: unknown): string {
  const cause = (err as { cause?: { message?: string } }).cause;
  return cause?.message ?? (err as Error).message;
}

export class WriteQueue<T> {
  private queue: T[] = [];
  private addedAt: number[] = [];
  /** Rows at the head of `queue` that the running write owns; spills take from after them. */
  private inFlightCount = 0;
  private running: Promise<void> | undefined;
  private spilling: Promise<void> | undefined;
  private backoffMs = 0;
  private nextAttemptAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private knownSpillFiles = 0;
  private spillSeq = 0;
  private readonly byKey = new Map<string, T>();
  private readonly stats: QueueStats = {
    buffered: 0,
    written: 0,
    batches: 0,
    failedBatches: 0,
    spilled: 0,
    replayed: 0,
    dropped: {},
    spillFilesPending: 0,
    postgresHealthy: true,
    lastError: null,
    oldestBufferedMs: null,
  };
  private readonly now: () => number;
  private readonly filePrefix: string;

  constructor(private readonly opts: WriteQueueOptions<T>) {
    this.now = opts.now ?? Date.now;
    this.filePrefix = `${opts.name}-`;
  }

  /** Starts the flush timer and looks for spill files left by an earlier run. */
  async start(): Promise<void> {
    this.knownSpillFiles = (await this.spillFiles()).length;
    this.timer = setInterval(() => void this.kick(), this.opts.flushMs);
    this.timer.unref();
    if (this.knownSpillFiles > 0) {
      this.opts.log.warn({ table: this.opts.name, files: this.knownSpillFiles, dir: this.opts.spillDir }, 'spilled rows from an earlier run will be replayed');
    }
  }

  add(row: T): void {
    this.queue.push(row);
    this.addedAt.push(this.now());
    this.byKey.set(this.opts.keyOf(row), row);
    if (this.queue.length >= this.opts.batchMax && this.stats.postgresHealthy) void this.kick();
    if (this.queue.length - this.inFlightCount > this.opts.bufferMax) void this.spillOverflow();
  }

  peek(key: string): T | undefined {
    return this.byKey.get(key);
  }

  getStats(): QueueStats {
    return {
      ...this.stats,
      dropped: { ...this.stats.dropped },
      buffered: this.queue.length,
      spillFilesPending: this.knownSpillFiles,
      oldestBufferedMs: this.addedAt.length ? this.now() - this.addedAt[0] : null,
    };
  }

  /** Runs a write pass unless one is running; never rejects. */
  kick(): Promise<void> {
    this.running ??= this.drain()
      .catch((err: Error) => this.opts.log.error({ err, table: this.opts.name }, 'write queue pass failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /**
   * Writes everything buffered now, ignoring the retry backoff. With `spillOnFailure`, rows that
   * Postgres refuses go to a spill file instead, so the call ends with nothing left in memory.
   */
  async flush({ spillOnFailure = false, attempts = 1 } = {}): Promise<void> {
    for (let i = 0; i < attempts; i++) {
      await this.running;
      this.nextAttemptAt = 0;
      await this.kick();
      if (this.queue.length === 0) break;
      if (i + 1 < attempts) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** i, 2000)));
    }
    await this.spilling;
    if (spillOnFailure && this.queue.length > 0) {
      await this.running;
      await this.spill(this.queue.length);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async drain(): Promise<void> {
    if (this.now() < this.nextAttemptAt) return;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.opts.batchMax);
      this.inFlightCount = batch.length;
      try {
        await this.rejectAside(await this.writeIsolating(batch));
      } catch (err) {
        this.inFlightCount = 0;
        this.onFailure(err as Error, batch.length);
        return;
      }
      this.queue.splice(0, batch.length);
      this.addedAt.splice(0, batch.length);
      this.inFlightCount = 0;
      for (const row of batch) this.byKey.delete(this.opts.keyOf(row));
      this.stats.written += batch.length;
      this.stats.batches += 1;
      this.onSuccess();
    }
    while (this.knownSpillFiles > 0 && this.stats.postgresHealthy) await this.replayOne();
  }

  private async writeWithTimeout(rows: T[]): Promise<void> {
    const ms = this.opts.writeTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.opts.write(rows),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`insert into ${this.opts.name} took over ${ms} ms`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Writes a batch; when Postgres refuses it for its data (not for being down), halves it until
   * the refused rows are found, so one bad row can never hold back the rows behind it.
   * Returns the refused rows.
   */
  private async writeIsolating(rows: T[]): Promise<T[]> {
    try {
      await this.writeWithTimeout(rows);
      return [];
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (rows.length === 1) {
        this.opts.log.error({ table: this.opts.name, key: this.opts.keyOf(rows[0]), err: sqlMessage(err) }, 'postgres refused a row; set aside');
        return rows;
      }
      const mid = rows.length >> 1;
      return [...(await this.writeIsolating(rows.slice(0, mid))), ...(await this.writeIsolating(rows.slice(mid)))];
    }
  }

  /** Keeps refused rows in a `.rejected` file (never replayed) for a human to look at. */
  private async rejectAside(rows: T[]): Promise<void> {
    if (rows.length === 0) return;
    this.stats.dropped.refused_by_postgres = (this.stats.dropped.refused_by_postgres ?? 0) + rows.length;
    const path = join(this.opts.spillDir, `${this.filePrefix}${Date.now()}-${process.pid}-${this.spillSeq++}.rejected`);
    try {
      await mkdir(this.opts.spillDir, { recursive: true });
      await writeFile(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    } catch (err) {
      this.opts.log.error({ table: this.opts.name, err: (err as Error).message }, 'cannot keep refused rows on disk');
    }
  }

  private onFailure(err: Error, rows: number) {
    this.stats.failedBatches += 1;
    this.stats.lastError = sqlMessage(err);
    this.backoffMs = Math.min(this.backoffMs ? this.backoffMs * 2 : 100, MAX_BACKOFF_MS);
    this.nextAttemptAt = this.now() + this.backoffMs;
    if (this.stats.postgresHealthy) {
      this.opts.log.warn(
        { table: this.opts.name, err: sqlMessage(err), rows, buffered: this.queue.length },
        'cannot write to postgres; keeping rows in memory and retrying with backoff',
      );
    }
    this.stats.postgresHealthy = false;
  }

  private onSuccess() {
    if (!this.stats.postgresHealthy) {
      this.opts.log.info({ table: this.opts.name, failedBatches: this.stats.failedBatches }, 'postgres writes recovered');
    }
    this.stats.postgresHealthy = true;
    this.backoffMs = 0;
    this.nextAttemptAt = 0;
  }

  private spillOverflow(): Promise<void> {
    this.spilling ??= (async () => {
      try {
        const excess = this.queue.length - this.inFlightCount - Math.floor(this.opts.bufferMax / 2);
        if (excess > 0) await this.spill(excess);
      } finally {
        this.spilling = undefined;
      }
    })();
    return this.spilling;
  }

  /** Moves `count` of the oldest rows not being written to a new spill file. */
  private async spill(count: number): Promise<void> {
    const start = this.inFlightCount;
    const rows = this.queue.splice(start, count);
    const times = this.addedAt.splice(start, count);
    if (rows.length === 0) return;
    for (const row of rows) this.byKey.delete(this.opts.keyOf(row));
    const name = `${this.filePrefix}${Date.now()}-${process.pid}-${randomBytes(3).toString('hex')}-${this.spillSeq++}.ndjson`;
    const path = join(this.opts.spillDir, name);
    try {
      await mkdir(this.opts.spillDir, { recursive: true });
      // Written under a temporary name and renamed, so a replayer never reads half a file.
      await writeFile(`${path}.tmp`, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await rename(`${path}.tmp`, path);
      this.stats.spilled += rows.length;
      this.knownSpillFiles += 1;
      this.opts.log.warn({ table: this.opts.name, rows: rows.length, file: path }, 'memory buffer full: spilled rows to disk');
    } catch (err) {
      // Back into memory; only past twice the limit are rows dropped (counted and logged).
      this.queue.push(...rows);
      this.addedAt.push(...times);
      for (const row of rows) this.byKey.set(this.opts.keyOf(row), row);
      this.opts.log.error({ table: this.opts.name, err: (err as Error).message, dir: this.opts.spillDir }, 'cannot spill to disk');
      const over = this.queue.length - this.inFlightCount - 2 * this.opts.bufferMax;
      if (over > 0) {
        const lost = this.queue.splice(this.inFlightCount, over);
        this.addedAt.splice(this.inFlightCount, over);
        for (const row of lost) this.byKey.delete(this.opts.keyOf(row));
        this.stats.dropped.memory_and_disk_full = (this.stats.dropped.memory_and_disk_full ?? 0) + over;
        this.opts.log.error({ table: this.opts.name, rows: over }, 'dropped rows: postgres, memory and spill directory all unavailable');
      }
    }
  }

  private async spillFiles(): Promise<string[]> {
    try {
      const names = await readdir(this.opts.spillDir);
      return names.filter((n) => n.startsWith(this.filePrefix) && n.endsWith('.ndjson')).sort();
    } catch {
      return [];
    }
  }

  /** Writes one spill file to Postgres and removes it; on failure it stays for the next pass. */
  private async replayOne(): Promise<void> {
    const files = await this.spillFiles();
    this.knownSpillFiles = files.length;
    const file = files[0];
    if (!file) return;
    const path = join(this.opts.spillDir, file);
    let rows: T[];
    try {
      const text = await readFile(path, 'utf8');
      rows = text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => this.opts.revive(JSON.parse(l) as Record<string, unknown>));
    } catch (err) {
      // Another instance sharing the directory replayed it first, or the file is damaged: set it aside.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.log.error({ table: this.opts.name, file: path, err: (err as Error).message }, 'unreadable spill file set aside');
        await rename(path, `${path}.bad`).catch(() => undefined);
      }
      this.knownSpillFiles = Math.max(0, this.knownSpillFiles - 1);
      return;
    }
    try {
      for (let i = 0; i < rows.length; i += this.opts.batchMax) await this.rejectAside(await this.writeIsolating(rows.slice(i, i + this.opts.batchMax)));
    } catch (err) {
      this.onFailure(err as Error, rows.length);
      return;
    }
    await unlink(path).catch(() => undefined);
    this.stats.replayed += rows.length;
    this.knownSpillFiles = Math.max(0, this.knownSpillFiles - 1);
    this.opts.log.info({ table: this.opts.name, rows: rows.length, file: path }, 'replayed spilled rows into postgres');
  }
}
