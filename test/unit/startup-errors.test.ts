// What an operator reads when the process cannot start, and the embedded data directory's lock.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/db/data-dir-lock.js';
import { databaseStartupError, listenStartupError, startupFailureLine } from '../../src/startup-error.js';

describe('start-up failures', () => {
  it('names TRACKLANE_DATA_DIR and the cause for a PGlite file-system error, never "[object Object]"', () => {
    // What PGlite throws when its directory is full: an Emscripten ErrnoError, no message, no stack.
    const enospc = Object.assign(Object.create({ constructor: function ErrnoError() {} }), { name: 'ErrnoError', errno: 51 });
    const line = startupFailureLine(databaseStartupError(enospc, configFrom({ TRACKLANE_DATA_DIR: '/var/lib/tl' })));
    expect(line).toBe('tracklane failed to start: cannot use the embedded database in TRACKLANE_DATA_DIR (/var/lib/tl): ENOSPC: no space left on device');
    expect(startupFailureLine({ errno: 69 })).toBe('tracklane failed to start: EROFS: read-only file system');
  });

  it('names PORT or HOST for a failed listen, and keeps the stack of anything else (a bug)', () => {
    const config = configFrom({ PORT: '8080', HOST: '10.1.2.3' });
    const err = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
    expect(startupFailureLine(listenStartupError(err('EACCES'), config))).toBe(
      'tracklane failed to start: PORT 8080 on HOST 10.1.2.3: permission denied (ports below 1024 need privileges)',
    );
    expect(startupFailureLine(listenStartupError(err('EADDRNOTAVAIL'), config))).toBe('tracklane failed to start: HOST 10.1.2.3 is not an address of this machine');
    const bug = new TypeError('x is not a function');
    expect(listenStartupError(bug, config)).toBe(bug);
    expect(startupFailureLine(bug)).toContain('TypeError: x is not a function\n    at ');
  });
});

describe('the embedded data directory lock', () => {
  const dirs: string[] = [];
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'tracklane-lock-'));
    dirs.push(d);
    return d;
  };
  const writeLock = (dir: string, pid: number, host = hostname()) =>
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, hostname: host, startedAt: '2026-01-01T00:00:00.000Z' }));

  it('refuses while the process that holds it runs, and takes it over once that process is gone', async () => {
    const dir = newDir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(holder);
    writeLock(dir, holder.pid!);
    expect(() => lockDataDir(dir)).toThrow(DataDirInUseError);
    expect(() => lockDataDir(dir)).toThrow(`TRACKLANE_DATA_DIR ${dir} is in use by another Tracklane process (pid ${holder.pid}, since 2026-01-01T00:00:00.000Z)`);

    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const release = lockDataDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over a lock from another host name, and a garbled one left by a crash mid-write', () => {
    const dir = newDir();
    writeLock(dir, process.ppid, 'an-old-container-id');
    lockDataDir(dir)();

    writeFileSync(join(dir, LOCK_FILE), '{"pid":');
    // Fresh: another process is writing it this very moment.
    expect(() => lockDataDir(dir)).toThrow('(starting right now)');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, LOCK_FILE), old, old);
    lockDataDir(dir)();
  });
});
