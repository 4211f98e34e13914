// Loaded into every test file (vitest setupFiles): any socket a test opens to an address outside
// 127.0.0.0/8 or ::1 fails before a packet leaves, so "tests stay on loopback" is enforced, not
// hoped for. IP literals are checked at connect; host names are checked after resolution, by a
// lookup wrapper, so `localhost` and forms like 0x7f000001 still work.
import dns from 'node:dns';
import net from 'node:net';

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x; false for anything else, including names. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIPv4(a)) return a.split('.')[0] === '127';
  if (net.isIPv6(a)) {
    if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
    const dotted = /^(?:0:0:0:0:0:|::)ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (dotted) return isLoopbackAddress(dotted[1]);
    const hex = /^(?:0:0:0:0:0:|::)ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(a);
    return hex ? parseInt(hex[1], 16) >> 8 === 127 : false;
  }
  return false;
}

export class NonLoopbackError extends Error {
  constructor(target: string) {
    super(`a test tried to connect to ${target}: tests only talk to 127.0.0.0/8 or ::1`);
    this.name = 'NonLoopbackError';
  }
}

type LookupAddress = string | { address: string; family: number }[];
type LookupCallback = (err: NodeJS.ErrnoException | null, address: LookupAddress, family?: number) => void;
type LookupFn = (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => void;

/** Wraps a resolver so that a name resolving outside loopback fails the connection instead. */
export function guardLookup(lookup: LookupFn): LookupFn {
  return (hostname, options, callback) =>
    lookup(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const all = Array.isArray(address) ? address.map((a) => a.address) : [address];
      const outside = all.find((a) => !isLoopbackAddress(a));
      if (outside) return callback(new NonLoopbackError(`${hostname} (${outside})`), address, family);
      callback(null, address, family);
    });
}

const GUARDED = Symbol.for('tracklane.loopbackGuard');
const proto = net.Socket.prototype as net.Socket & { [GUARDED]?: boolean };
if (!proto[GUARDED]) {
  proto[GUARDED] = true;
  const connect = proto.connect;
  proto.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    // net.connect passes its normalised [options, callback] as one array argument.
    const normalised = Array.isArray(args[0]);
    const first = (normalised ? (args[0] as unknown[])[0] : args[0]) as Record<string, unknown> | number | string;
    let opts: Record<string, unknown>;
    if (typeof first === 'object' && first !== null) opts = first;
    else if (typeof first === 'string' && !/^\d+$/.test(first)) opts = { path: first };
    else opts = { port: first, host: typeof args[1] === 'string' ? args[1] : undefined };
    if (!opts.path) {
      const host = typeof opts.host === 'string' && opts.host !== '' ? opts.host : 'localhost';
      if (net.isIP(host.replace(/^\[|\]$/g, ''))) {
        if (!isLoopbackAddress(host)) throw new NonLoopbackError(`${host}:${String(opts.port)}`);
      } else if (typeof first === 'object' && first !== null) {
        const guarded = { ...opts, lookup: guardLookup((opts.lookup as LookupFn | undefined) ?? (dns.lookup as unknown as LookupFn)) };
        if (normalised) (args[0] as unknown[])[0] = guarded;
        else args[0] = guarded;
      } else if (host !== 'localhost') {
        throw new NonLoopbackError(`${host}:${String(opts.port)}`);
      }
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof proto.connect;
}
