// The suite-wide loopback guard, as pure decisions: no test here (or anywhere) sends a packet to
// an outside address to prove the guard works.
import { describe, expect, it } from 'vitest';
import { guardLookup, isLoopbackAddress, NonLoopbackError } from '../helpers/loopback-guard.js';

describe('loopback guard', () => {
  it('knows loopback from everything else', () => {
    for (const a of ['127.0.0.1', '127.255.1.2', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.1', '8.8.8.8', '0.0.0.0', '::', '::ffff:10.0.0.1', 'fe80::1', '128.0.0.1', 'localhost', 'example.com'])
      expect(isLoopbackAddress(a), a).toBe(false);
  });

  it('fails a name that resolves outside loopback, and passes one that resolves inside', async () => {
    const fake = (address: string) => (_h: string, _o: object, cb: (e: Error | null, a: string, f?: number) => void) => cb(null, address, 4);
    const run = (address: string) =>
      new Promise<Error | null>((resolve) => guardLookup(fake(address) as never)('name.test', {}, (err) => resolve(err)));
    expect(await run('127.0.0.1')).toBeNull();
    expect(await run('203.0.113.7')).toBeInstanceOf(NonLoopbackError);
    const all = (_h: string, _o: object, cb: (e: Error | null, a: { address: string; family: number }[]) => void) =>
      cb(null, [{ address: '127.0.0.1', family: 4 }, { address: '198.51.100.1', family: 4 }]);
    const err = await new Promise<Error | null>((resolve) => guardLookup(all as never)('two.test', { all: true }, (e) => resolve(e)));
    expect(err).toBeInstanceOf(NonLoopbackError);
  });

  it('is installed in this test process and lets loopback through', async () => {
    const net = await import('node:net');
    const srv = net.createServer((s) => s.end('hi'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    let text: string;
    try {
      text = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: 'localhost', port, family: 4 }, () => undefined);
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
    } finally {
      // Closed also when the guard wrongly refuses the connection.
      srv.close();
    }
    expect(text).toBe('hi');
    expect((net.Socket.prototype as unknown as Record<symbol, boolean>)[Symbol.for('tracklane.loopbackGuard')]).toBe(true);
  });
});
