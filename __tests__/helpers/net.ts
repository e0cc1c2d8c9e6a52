import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

const fixtures = join(__dirname, '..', 'fixtures');

/** The self-signed test certificate for localhost, 127.0.0.1 and ::1 (it is its own CA). */
export const tlsCert = readFileSync(join(fixtures, 'test-only-localhost.cert.pem'));
export const tlsKey = readFileSync(join(fixtures, 'test-only-localhost.key.pem'));

/**
 * A free TCP port on the loopback interface: bound, then released, so connecting to it is
 * refused until someone listens on it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Everything a test opens, closed in afterEach so no test can leak a handle. */
export class Resources {
  private readonly closers: (() => unknown)[] = [];

  add<T>(resource: T, close: (resource: T) => unknown): T {
    this.closers.push(() => close(resource));
    return resource;
  }

  /** A file path (a socket file, say) removed after the test if it still exists. */
  removeFile(path: string): string {
    return this.add(path, (p) => {
      if (existsSync(p)) unlinkSync(p);
    });
  }

  socket(socket: Socket): Socket {
    return this.add(socket, (s) => {
      if (!s.destroyed) s.destroy();
    });
  }

  async closeAll(): Promise<void> {
    const closers = this.closers.splice(0).reverse();
    for (const close of closers) {
      try {
        await close();
      } catch {
        // A resource a test already closed.
      }
    }
  }
}

/** A 4-byte big-endian length prefix and the payload: the default framing on the wire. */
export function frame(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** A raw net socket that reads default-framed messages. */
export class RawClient {
  readonly socket: Socket;
  readonly messages: Buffer[] = [];
  private backlog = Buffer.alloc(0);
  private waiters: { count: number; resolve: () => void }[] = [];
  readonly closed: Promise<void>;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.backlog = Buffer.concat([this.backlog, chunk]);
      while (this.backlog.length >= 4) {
        const length = this.backlog.readUInt32BE(0);
        if (this.backlog.length < 4 + length) break;
        this.messages.push(this.backlog.subarray(4, 4 + length));
        this.backlog = this.backlog.subarray(4 + length);
      }
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.count) w.resolve();
        return this.messages.length < w.count;
      });
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(options: { port: number; host?: string } | { path: string }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket =
        'path' in options ? connect({ path: options.path }) : connect(options.port, options.host);
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Resolves once `count` messages in all have arrived. */
  waitForMessages(count: number): Promise<Buffer[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages);
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.messages) }));
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }
}

/** A random Unix socket path in the temporary folder. */
export function tmpSocketPath(): string {
  return join(tmpdir(), `sockframe-test-${process.pid}-${randomBytes(6).toString('hex')}.sock`);
}

/** A pino logger writing JSON records into an array, to assert on. */
export function recordingLogger(level = 'debug'): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level }, stream), records };
}

/** Resolves when `emitter` emits `event`, with its arguments. */
export function once<T extends unknown[]>(
  emitter: { once(event: string, listener: (...args: T) => void): unknown },
  event: string,
): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: T) => resolve(args)));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Leaves a socket file behind the way a crashed process does: listening, then killed. */
export async function staleSocketFile(resources: Resources, path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  resources.add(child, (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`listener exited early with ${code}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
