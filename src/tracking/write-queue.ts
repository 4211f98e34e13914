// A write-behind queue for one table: rows wait in memory and go to Postgres as one INSERT per
// batch (at `batchMax` rows or every `flushMs`). While Postgres is down or slow the rows stay in
// memory up to `bufferMax`, then the oldest are spilled to NDJSON files and replayed once
// Postgres answers again. Inserts are idempotent, so a retried or replayed batch never duplicates.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
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
  /**
   * Rows not written, by reason: `memory_and_disk_full` (Postgres, memory and the spill directory
   * all failed), `unsaved_at_shutdown` (the same at exit), `refused_by_postgres` (kept in a
   * `.rejected` file), `damaged_spill_line` (an unreadable line of a spill file, kept in a `.bad` file).
   */
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
/** A failed spill is not tried again sooner than this (each try serialises up to half the buffer). */
const MAX_SPILL_BACKOFF_MS = 5000;
/** A `.tmp` spill file this old was left by a process that died writing it: replayed as far as it is readable. */
const STALE_TMP_MS = 60_000;

/** Writes a file and fsyncs it, so a spill file that was renamed into place has its rows after a power loss. */
async function writeDurably(path: string, text: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Makes a rename durable (best effort: not every platform can fsync a directory). */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close().catch(() => undefined);
}

/** An error raised in JavaScript while a row was being serialised (a value of the wrong type, an invalid date): the row's fault, like a data error. */
const isRowError = (err: unknown) => isDataError(err) || err instanceof TypeError || err instanceof RangeError;

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
  private spillBackoffMs = 0;
  private spillRetryAt = 0;
  /** Set by stop(): no new spill file is started on replay, so shutdown is not held by a backlog. */
  private stopping = false;
  /** Set by a flush with a deadline: no write may run past it. */
  private writeDeadline = Infinity;
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
    await this.adoptStaleTmpFiles();
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
    const waiting = this.queue.length - this.inFlightCount;
    if (waiting > this.opts.bufferMax) {
      if (this.now() >= this.spillRetryAt) void this.spillOverflow();
      // The spill directory failed a moment ago: past twice the limit the oldest go, a tenth of the
      // limit at a time (counted and logged once per chunk, not per visit).
      else if (waiting > 2 * this.opts.bufferMax) this.dropOldest(waiting - 2 * this.opts.bufferMax + Math.floor(this.opts.bufferMax / 10));
    }
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
   * With a `deadline` (shutdown), no write runs past it: what is not in Postgres by then is spilled,
   * including a batch whose write hangs (replaying it later is idempotent). With `final`, rows that
   * could not be spilled either are counted and logged as lost.
   */
  async flush({ spillOnFailure = false, attempts = 1, deadline = Infinity, final = false } = {}): Promise<void> {
    this.writeDeadline = deadline;
    try {
      for (let i = 0; i < attempts; i++) {
        await this.within(this.running, deadline);
        if (this.now() >= deadline) break;
        this.nextAttemptAt = 0;
        await this.within(this.kick(), deadline);
        if (this.queue.length === 0) break;
        if (i + 1 < attempts) await this.within(new Promise((r) => setTimeout(r, Math.min(200 * 2 ** i, 2000))), deadline);
      }
      await this.within(this.spilling, deadline);
    } finally {
      this.writeDeadline = Infinity;
    }
    // Rows still here under live traffic while Postgres answers are simply the next batch.
    const failing = !this.stats.postgresHealthy || this.now() >= deadline;
    if (spillOnFailure && this.queue.length > 0 && failing) await this.spillAll();
    if (final && this.queue.length > 0) {
      const lost = this.queue.length;
      this.drop(this.queue.length, 0, 'unsaved_at_shutdown');
      this.opts.log.error({ table: this.opts.name, rows: lost, dir: this.opts.spillDir }, 'rows lost at shutdown: neither postgres nor the spill directory took them');
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Waits for `p`, but not past `deadline`. */
  private async within(p: Promise<unknown> | undefined, deadline: number): Promise<void> {
    if (!p) return;
    if (deadline === Infinity) {
      await p;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([p, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - this.now()))))]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async drain(): Promise<void> {
    if (this.now() < this.nextAttemptAt) return;
    if (!(await this.writeQueued())) return;
    // One spill file at a time, then the rows that arrived meanwhile: fresh visits never wait for a
    // whole backlog, and a stop (SIGTERM) is not held by one. Tried whenever the backoff allows,
    // also with nothing new in memory: a replay that failed is retried without new traffic.
    while (!this.stopping && this.knownSpillFiles > 0) {
      if (!(await this.replayOne())) return;
      if (!(await this.writeQueued())) return;
    }
  }

  /** Writes the rows in memory, a batch at a time; false when a write failed. */
  private async writeQueued(): Promise<boolean> {
    while (this.queue.length > 0) {
      const queue = this.queue;
      const batch = queue.slice(0, this.opts.batchMax);
      this.inFlightCount = batch.length;
      let refused: T[];
      try {
        refused = await this.writeIsolating(batch);
      } catch (err) {
        if (this.queue === queue) this.inFlightCount = 0;
        this.onFailure(err as Error, batch.length);
        return false;
      }
      // A shutdown spilled everything (this batch too) while the write hung: nothing left here.
      if (this.queue !== queue) return false;
      queue.splice(0, batch.length);
      this.addedAt.splice(0, batch.length);
      this.inFlightCount = 0;
      for (const row of batch) this.byKey.delete(this.opts.keyOf(row));
      this.stats.written += batch.length - refused.length;
      this.stats.batches += 1;
      this.onSuccess();
      await this.rejectAside(refused);
    }
    return true;
  }

  private async writeWithTimeout(rows: T[]): Promise<void> {
    const ms = Math.min(this.opts.writeTimeoutMs ?? 10_000, this.writeDeadline - this.now());
    if (ms <= 0) throw new Error(`insert into ${this.opts.name}: shutdown deadline reached`);
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
      if (!isRowError(err)) throw err;
      if (rows.length === 1) {
        let key: string;
        try {
          key = this.opts.keyOf(rows[0]);
        } catch {
          key = '?';
        }
        this.opts.log.error({ table: this.opts.name, key, err: sqlMessage(err) }, 'postgres refused a row; set aside');
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
        if (excess > 0) await this.spillRows(this.takeRows(this.inFlightCount, excess));
      } finally {
        this.spilling = undefined;
      }
    })();
    return this.spilling;
  }

  /** Shutdown: every row in memory to one spill file, the batch being written too. */
  private async spillAll(): Promise<void> {
    const taken = { rows: this.queue, times: this.addedAt };
    this.queue = [];
    this.addedAt = [];
    this.inFlightCount = 0;
    for (const row of taken.rows) this.byKey.delete(this.opts.keyOf(row));
    await this.spillRows(taken);
  }

  /** Takes `count` rows from `start` out of memory. */
  private takeRows(start: number, count: number): { rows: T[]; times: number[] } {
    const rows = this.queue.splice(start, count);
    const times = this.addedAt.splice(start, count);
    for (const row of rows) this.byKey.delete(this.opts.keyOf(row));
    return { rows, times };
  }

  private drop(count: number, start: number, reason: string): void {
    if (count <= 0) return;
    const { rows } = this.takeRows(start, count);
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + rows.length;
  }

  private dropOldest(count: number): void {
    const n = Math.min(count, this.queue.length - this.inFlightCount);
    if (n <= 0) return;
    this.drop(n, this.inFlightCount, 'memory_and_disk_full');
    this.opts.log.error({ table: this.opts.name, rows: n, dir: this.opts.spillDir }, 'dropped rows: postgres, memory and spill directory all unavailable');
  }

  /** Writes rows taken out of memory to a new spill file; on failure they go back to memory. */
  private async spillRows({ rows, times }: { rows: T[]; times: number[] }): Promise<void> {
    if (rows.length === 0) return;
    const name = `${this.filePrefix}${Date.now()}-${process.pid}-${randomBytes(3).toString('hex')}-${this.spillSeq++}.ndjson`;
    const path = join(this.opts.spillDir, name);
    const tmp = `${path}.tmp`;
    try {
      await mkdir(this.opts.spillDir, { recursive: true });
      // Written and fsynced under a temporary name, then renamed: a replayer never reads half a
      // file, and a power loss never leaves a renamed file without its rows.
      await writeDurably(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await rename(tmp, path);
      await syncDir(this.opts.spillDir);
      this.stats.spilled += rows.length;
      this.knownSpillFiles += 1;
      this.spillBackoffMs = 0;
      this.spillRetryAt = 0;
      this.opts.log.warn({ table: this.opts.name, rows: rows.length, file: path }, 'memory buffer full: spilled rows to disk');
    } catch (err) {
      // A disk that filled mid-write leaves part of a file: removed, it would only take more room.
      await unlink(tmp).catch(() => undefined);
      // Back into memory; only past twice the limit are rows dropped (counted and logged).
      this.queue.push(...rows);
      this.addedAt.push(...times);
      for (const row of rows) this.byKey.set(this.opts.keyOf(row), row);
      this.spillBackoffMs = Math.min(this.spillBackoffMs ? this.spillBackoffMs * 2 : 250, MAX_SPILL_BACKOFF_MS);
      this.spillRetryAt = this.now() + this.spillBackoffMs;
      this.opts.log.error({ table: this.opts.name, err: (err as Error).message, dir: this.opts.spillDir, rows: rows.length }, 'cannot spill to disk');
      this.dropOldest(this.queue.length - this.inFlightCount - 2 * this.opts.bufferMax);
    }
  }

  /**
   * A `.ndjson.tmp` file from an earlier run that died while writing it holds rows that were never
   * anywhere else: it becomes a spill file (a cut last line is set aside on replay).
   */
  private async adoptStaleTmpFiles(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.opts.spillDir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.startsWith(this.filePrefix) || !n.endsWith('.ndjson.tmp')) continue;
      const path = join(this.opts.spillDir, n);
      try {
        if (this.now() - (await stat(path)).mtimeMs < STALE_TMP_MS) continue;
        await rename(path, path.slice(0, -'.tmp'.length));
        this.opts.log.warn({ table: this.opts.name, file: path }, 'spill file left half-written by an earlier run will be replayed');
      } catch {
        // Gone meanwhile (another instance took it).
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

  /**
   * Writes one spill file to Postgres and removes it; false when Postgres failed (the file stays for
   * the next pass) or a stop came. A line that cannot be read (a file cut by a crash or a full disk)
   * is set aside in a `.bad` file and counted; the rest of the file is written.
   */
  private async replayOne(): Promise<boolean> {
    const files = await this.spillFiles();
    this.knownSpillFiles = files.length;
    const file = files[0];
    if (!file) return true;
    const path = join(this.opts.spillDir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Another instance sharing the directory replayed it first, or it cannot be read: set it aside.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.opts.log.error({ table: this.opts.name, file: path, err: (err as Error).message }, 'unreadable spill file set aside');
        await rename(path, `${path}.bad`).catch(() => undefined);
      }
      this.knownSpillFiles = Math.max(0, this.knownSpillFiles - 1);
      return true;
    }
    const rows: T[] = [];
    const bad: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        rows.push(this.opts.revive(JSON.parse(line) as Record<string, unknown>));
      } catch {
        bad.push(line);
      }
    }
    try {
      for (let i = 0; i < rows.length; i += this.opts.batchMax) {
        if (this.stopping) return false;
        await this.rejectAside(await this.writeIsolating(rows.slice(i, i + this.opts.batchMax)));
      }
    } catch (err) {
      this.onFailure(err as Error, rows.length);
      return false;
    }
    if (bad.length > 0) {
      this.stats.dropped.damaged_spill_line = (this.stats.dropped.damaged_spill_line ?? 0) + bad.length;
      this.opts.log.error({ table: this.opts.name, file: path, lines: bad.length }, 'unreadable lines of a spill file set aside');
      await writeFile(`${path}.bad`, bad.join('\n') + '\n').catch(() => undefined);
    }
    await unlink(path).catch(() => undefined);
    this.stats.replayed += rows.length;
    this.knownSpillFiles = Math.max(0, this.knownSpillFiles - 1);
    this.onSuccess();
    this.opts.log.info({ table: this.opts.name, rows: rows.length, file: path }, 'replayed spilled rows into postgres');
    return true;
  }
}
