import { spawnSync } from 'node:child_process';
import { createSocket, type Socket, type SocketType } from 'node:dgram';

/** A plain dgram socket that records what it receives, for driving a server from outside. */
export class RawUdp {
  readonly socket: Socket;
  readonly messages: Buffer[] = [];
  readonly errors: Error[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (message: Buffer) => {
      this.messages.push(message);
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.count) w.resolve();
        return this.messages.length < w.count;
      });
    });
    socket.on('error', (err) => this.errors.push(err));
  }

  static bind(type: SocketType = 'udp4', host = type === 'udp6' ? '::1' : '127.0.0.1'): Promise<RawUdp> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(type);
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve(new RawUdp(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer | string, port: number, host = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(bytes, port, host, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Resolves once `count` datagrams in all have arrived. */
  waitForMessages(count: number): Promise<Buffer[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages);
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.messages) }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

/**
 * Asks a child process whether the kernel here allows something, synchronously, so that a test
 * can be registered as skipped (with the reason in its name) before jest starts running tests.
 * The script prints 'ok' or the reason it could not.
 */
function probe(script: string): { ok: true } | { ok: false; reason: string } {
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  const out = (result.stdout ?? '').trim();
  if (out === 'ok') return { ok: true };
  return { ok: false, reason: out || result.error?.message || `probe exited with ${String(result.status)}` };
}

/** Whether a udp6 socket can bind ::1 and receive from itself. */
export function probeIpv6Loopback(): { ok: true } | { ok: false; reason: string } {
  return probe(`
    const s = require('node:dgram').createSocket('udp6');
    const done = (m) => { console.log(m); try { s.close(); } catch {} };
    const t = setTimeout(() => done('no datagram came back over ::1 within 2 s'), 2000);
    s.on('error', (e) => { clearTimeout(t); done('::1 unavailable: ' + e.code); });
    s.on('message', () => { clearTimeout(t); done('ok'); });
    s.bind(0, '::1', () => s.send('x', s.address().port, '::1'));
  `);
}

/** Whether a multicast datagram sent on the loopback interface reaches a member on it. */
export function probeLoopbackMulticast(group: string): { ok: true } | { ok: false; reason: string } {
  return probe(`
    const dgram = require('node:dgram');
    const r = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const s = dgram.createSocket('udp4');
    const done = (m) => { console.log(m); try { r.close(); } catch {} try { s.close(); } catch {} };
    const t = setTimeout(() => done('the kernel did not loop a multicast datagram back on lo within 2 s'), 2000);
    r.on('error', (e) => { clearTimeout(t); done('multicast receive refused: ' + e.code); });
    s.on('error', (e) => { clearTimeout(t); done('multicast send refused: ' + e.code); });
    r.on('message', () => { clearTimeout(t); done('ok'); });
    r.bind(0, () => {
      try { r.addMembership(${JSON.stringify(group)}, '127.0.0.1'); }
      catch (e) { clearTimeout(t); return done('addMembership refused: ' + e.code); }
      s.bind(0, '127.0.0.1', () => {
        try { s.setMulticastInterface('127.0.0.1'); s.setMulticastLoopback(true); }
        catch (e) { clearTimeout(t); return done('multicast options refused: ' + e.code); }
        s.send('x', r.address().port, ${JSON.stringify(group)});
      });
    });
  `);
}
