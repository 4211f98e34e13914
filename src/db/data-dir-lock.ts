// One process at a time on an embedded data directory. PGlite holds the database in its own memory
// and writes its files back as it goes: two processes on one directory each see only their own
// writes, and whichever closes last overwrites the other's campaigns, API keys and visits. Postgres
// guards its directory with postmaster.pid; PGlite does not, so Tracklane does, the same way.
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'tracklane.lock';

interface Holder {
  pid: number;
  hostname: string;
  startedAt: string;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: Holder,
  ) {
    super(
      `TRACKLANE_DATA_DIR ${dataDir} is in use by another Tracklane process (${holder.pid > 0 ? `pid ${holder.pid}, since ${holder.startedAt}` : 'starting right now'}): ` +
        'the embedded database serves one process at a time; stop that one first (while it runs, manage API keys with /api/api-keys), ' +
        'or set DATABASE_URL and REDIS_URL to run several',
    );
    this.name = 'DataDirInUseError';
  }
}

const STARTING: Holder = { pid: -1, hostname: '', startedAt: '' };

function readHolder(path: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.hostname === 'string' ? { pid: h.pid, hostname: h.hostname, startedAt: String(h.startedAt) } : undefined;
  } catch {
    return undefined; // gone meanwhile, or cut short by a crash while it was written: not a holder
  }
}

/**
 * Whether the process that wrote the lock still runs. Only a process on this machine can be
 * checked: a lock from another host name (a container recreated with a new one) or with our own
 * pid (a container restarted, pid 1 again) is left over from a process that ended without
 * releasing it (SIGKILL, a crash, power loss).
 */
function holderAlive(h: Holder): boolean {
  if (h.hostname !== hostname() || h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
  // Killed but not yet reaped by its parent (a zombie) still answers kill(0) on Linux.
  try {
    return readFileSync(`/proc/${h.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is all we know
  }
}

function recentlyModified(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < 5000;
  } catch {
    return false;
  }
}

/** Takes the directory's lock or throws DataDirInUseError; returns its release. */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  const release = () => {
    const h = readHolder(path);
    if (h?.pid !== me.pid || h.hostname !== me.hostname || h.startedAt !== me.startedAt) return; // not ours (any more)
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // `wx`: created only if absent, atomically, so two processes starting together cannot both win.
      writeFileSync(path, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(path);
    if (holder && holderAlive(holder)) throw new DataDirInUseError(dataDir, holder);
    // Unreadable and fresh: another process created it a moment ago and is writing it.
    if (!holder && recentlyModified(path)) throw new DataDirInUseError(dataDir, STARTING);
    try {
      unlinkSync(path); // stale: its process is gone
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new DataDirInUseError(dataDir, readHolder(path) ?? STARTING);
}
