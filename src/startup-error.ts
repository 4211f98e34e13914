// Start-up failures an operator fixes in the environment (a port in use, an unreachable Postgres,
// a data directory that cannot be written) become one line naming the setting, as a bad value
// does in config.ts, instead of a stack trace or "[object Object]".
import type { Config } from './config.js';
import { DataDirInUseError } from './db/data-dir-lock.js';

export class StartupError extends Error {
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** PGlite's file-system errors carry Emscripten's errno numbers and no message. */
const EMSCRIPTEN_ERRNO: Record<number, string> = {
  2: 'EACCES: permission denied',
  44: 'ENOENT: no such file or directory',
  51: 'ENOSPC: no space left on device',
  54: 'ENOTDIR: not a directory',
  63: 'EPERM: operation not permitted',
  69: 'EROFS: read-only file system',
};

/** What went wrong, in words, whatever was thrown. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (err && typeof err === 'object') {
    const errno = (err as { errno?: unknown }).errno;
    if (typeof errno === 'number') return EMSCRIPTEN_ERRNO[errno] ?? `file system error (errno ${errno})`;
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string' && message) return message;
  }
  return String(err);
}

/** The database could not be opened or migrated: name the setting that points at it. */
export function databaseStartupError(err: unknown, config: Pick<Config, 'DATABASE_URL' | 'TRACKLANE_DATA_DIR'>, describe?: string): unknown {
  if (err instanceof StartupError) return err;
  if (err instanceof DataDirInUseError) return new StartupError('TRACKLANE_DATA_DIR', err.message, { cause: err });
  if (config.DATABASE_URL) {
    return new StartupError('DATABASE_URL', `cannot use Postgres at DATABASE_URL (${describe ?? 'postgres'}): ${errorText(err)}`, { cause: err });
  }
  return new StartupError(
    'TRACKLANE_DATA_DIR',
    `cannot use the embedded database in TRACKLANE_DATA_DIR (${config.TRACKLANE_DATA_DIR}): ${errorText(err)}`,
    { cause: err },
  );
}

/** `listen` failed: the port is taken or not ours to take, or HOST is not an address here. */
export function listenStartupError(err: unknown, config: Pick<Config, 'PORT' | 'HOST'>): unknown {
  const where = `PORT ${config.PORT} on HOST ${config.HOST}`;
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return new StartupError('PORT', `${where} is already in use (another process listens there)`, { cause: err });
    case 'EACCES':
      return new StartupError('PORT', `${where}: permission denied (ports below 1024 need privileges)`, { cause: err });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new StartupError('HOST', `HOST ${config.HOST} is not an address of this machine`, { cause: err });
    default:
      return err;
  }
}

/** The one line printed when the process cannot start. */
export function startupFailureLine(err: unknown): string {
  if (err instanceof StartupError) return `tracklane failed to start: ${err.message}`;
  // Anything else is a bug, not a setting: keep the stack for the report.
  if (err instanceof Error) return `tracklane failed to start: ${err.stack ?? err.message}`;
  return `tracklane failed to start: ${errorText(err)}`;
}
