// A lean HTTP/1.1 client for the fixed-rate load: keep-alive sockets, one request in flight per
// socket, requests written as one preformatted string, answers read by status line and
// Content-Length (or chunked end). Node's http client cost the generator ~40% of a core at 5,000
// req/s and added its own GC pauses to every latency it measured; on a 2-core machine that tail
// landed on the tracker's numbers and on the baseline's alike (bench/run.ts runs both).
import net from 'node:net';

export interface RawAnswer {
  status: number;
}

interface Pending {
  onAnswer: (a: RawAnswer) => void;
  onError: (e: Error) => void;
}

class RawConnection {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  busy = false;
  dead = false;

  constructor(port: number, onIdle: (c: RawConnection) => void) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse(onIdle);
    });
    const fail = (err: Error) => {
      this.dead = true;
      const p = this.pending;
      this.pending = undefined;
      p?.onError(err);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed')));
  }

  send(request: string, p: Pending): void {
    this.busy = true;
    this.pending = p;
    this.socket.write(request);
  }

  private parse(onIdle: (c: RawConnection) => void): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const cl = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    let total: number;
    if (cl) total = end + 4 + Number(cl[1]);
    else if (lower.includes('\r\ntransfer-encoding: chunked')) {
      const last = this.buf.indexOf('\r\n0\r\n\r\n', end);
      if (last < 0) return;
      total = last + 7;
    } else total = end + 4;
    if (this.buf.length < total) return;
    this.buf = this.buf.subarray(total);
    const p = this.pending;
    this.pending = undefined;
    this.busy = false;
    p?.onAnswer({ status });
    onIdle(this);
  }
}

/** Up to `maxSockets` keep-alive connections; a request waits for a free one (and its wait counts). */
export class RawHttpPool {
  private readonly idle: RawConnection[] = [];
  private readonly all = new Set<RawConnection>();
  private readonly queue: { request: string; p: Pending }[] = [];

  constructor(
    private readonly port: number,
    private readonly maxSockets: number,
  ) {}

  /** Opens every socket before the schedule starts, so the first second does not time connection set-up. */
  async open(): Promise<void> {
    const fresh: RawConnection[] = [];
    while (this.all.size < this.maxSockets) {
      const c = this.take()!;
      fresh.push(c);
    }
    await Promise.all(fresh.map((c) => new Promise((resolve, reject) => c.socket.once('connect', resolve).once('error', reject))));
    this.idle.push(...fresh);
  }

  request(path: string, headers: Record<string, string>, p: Pending): void {
    let text = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${this.port}\r\nconnection: keep-alive\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    text += '\r\n';
    const c = this.take();
    if (c) c.send(text, p);
    else this.queue.push({ request: text, p });
  }

  private take(): RawConnection | undefined {
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (!c.dead) return c;
      this.all.delete(c);
    }
    if (this.all.size < this.maxSockets) {
      const c = new RawConnection(this.port, (conn) => this.onIdle(conn));
      this.all.add(c);
      c.socket.on('close', () => this.all.delete(c));
      return c;
    }
    return undefined;
  }

  private onIdle(c: RawConnection): void {
    const next = this.queue.shift();
    if (next) c.send(next.request, next.p);
    else this.idle.push(c);
  }

  close(): void {
    for (const c of this.all) c.socket.destroy();
  }
}
