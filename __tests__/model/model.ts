/**
 * What the model tests share: seeds, the size and gap distributions, the per-connection model of
 * what was sent, and the failure report (seed, case, first fault of each connection).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { COPY_LIMIT } from '../../src/write-batch';
import { WRITE_HIGH_WATER_MARK } from '../../src/payload';
import { tlsCert } from '../helpers/net';
import { logUniform, prng } from '../stress/support';
import { checkStream, describeMessage, type Expect, type Fault } from './check';
import type { Message, WireFormat } from './wire';

export { prng };

/** Size of the shared write slab, and of the batch a connection hands to its socket early. */
export const SLAB_SIZE = 64 * 1024;

/** The run's seed: given by the runner (--seed), else drawn here. */
export const BASE_SEED: number = (() => {
  const given = process.env.SOCKFRAME_MODEL_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new Error(`SOCKFRAME_MODEL_SEED is not a seed: ${given}`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 31);
})();

/** Each case's own seed, from the run's seed and the case's name, so `-t` replays one case alone. */
export function caseSeed(name: string): number {
  let h = BASE_SEED ^ 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function int(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

export function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * A payload size that lands on or next to a boundary of the write path: empty, tiny, around
 * 1 KB, around the copy limit, around the slab (and batch flush) size, around the write
 * high-water mark, and past it; clamped to what the format carries and to `max`.
 */
export function drawSize(random: () => number, format: WireFormat, max: number): number {
  if (format.fixed !== undefined) return format.fixed;
  const near = (at: number): number => at + int(random, -16, 16);
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = random();
    const size =
      r < 0.08
        ? 0
        : r < 0.3
          ? int(random, 1, 40)
          : r < 0.5
            ? near(1000)
            : r < 0.62
              ? near(COPY_LIMIT)
              : r < 0.72
                ? near(SLAB_SIZE)
                : r < 0.77
                  ? near(WRITE_HIGH_WATER_MARK)
                  : r < 0.79
                    ? int(random, WRITE_HIGH_WATER_MARK, 1 << 20)
                    : logUniform(random, 1, 70_000);
    const clamped = Math.min(format.maxPayload, Math.max(format.minPayload, size));
    if (clamped <= max) return clamped;
  }
  return Math.max(format.minPayload, Math.min(max, int(random, 0, 40), format.maxPayload));
}

/** What ends a tick of the program: how much of the event loop runs before the next ops. */
export async function gap(random: () => number, timers: Set<NodeJS.Timeout>): Promise<void> {
  const r = random();
  if (r < 0.25) {
    // Same turn: the batches queued so far are not flushed yet.
    await Promise.resolve();
  } else if (r < 0.7) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  } else {
    await sleep(int(random, 0, 4), timers);
  }
}

/**
 * The end of a tick when some connections owe a 'drain': half the time their readers are let go
 * and the drains awaited (bounded), otherwise an ordinary gap. Returns whether it waited.
 */
export async function drainOrGap(
  random: () => number,
  owing: readonly { receiver: { socket: { resume(): unknown } }; sent: Sent }[],
  timers: Set<NodeJS.Timeout>,
  what: string,
): Promise<boolean> {
  if (owing.length === 0 || random() >= 0.5) {
    await gap(random, timers);
    return false;
  }
  for (const side of owing) side.receiver.socket.resume();
  await within(
    Promise.all(owing.map((s) => s.sent.whenDrained())),
    15_000,
    `'drain' on ${owing.length} ${what}`,
  );
  return true;
}

export function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timers.add(timer);
  });
}

/** Rejects with `what` when `promise` has not settled in `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The receiving side of one connection: every byte it got, kept to be decoded at the end. */
export class Receiver {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        resolve();
      }),
    );
  }

  stream(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export type Transport = 'tcp' | 'ipc' | 'tls';

export type Target = { port: number } | { path: string };

/** A raw socket to a listening server (no library code on this side). */
export function connectRaw(transport: Transport, target: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let socket: Socket;
    if (transport === 'tls') {
      const { port } = target as { port: number };
      socket = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: tlsCert });
      socket.once('secureConnect', () => resolve(socket));
    } else {
      socket = 'path' in target ? netConnect({ path: target.path }) : netConnect(target.port, '127.0.0.1');
      socket.once('connect', () => resolve(socket));
    }
    socket.once('error', reject);
  });
}

/** The model of one connection's sending side. */
export class Sent {
  /** The messages handed to send(), in order, as the receiver must see them. */
  readonly messages: Message[] = [];
  private nextSeq = 0;
  state: 'open' | 'closed' | 'destroyed' = 'open';
  /** send() returned false and no 'drain' has come since. */
  needsDrain = false;
  private drainWaiters: (() => void)[] = [];

  constructor(readonly index: number) {}

  /** The next message of this connection's own sequence. */
  next(size: number): Message {
    return { tag: this.index, seq: this.nextSeq++, size };
  }

  drained(): void {
    this.needsDrain = false;
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  whenDrained(): Promise<void> {
    if (!this.needsDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}

/** A fault of one connection, or a fault of the run itself. */
export interface Finding {
  readonly conn: number | undefined;
  readonly text: string;
}

/** Decodes and checks every receiver against its model; returns the findings, one per faulty connection. */
export function checkAll(
  format: WireFormat,
  run: number,
  sides: readonly { sent: Sent; receiver: Receiver }[],
): Finding[] {
  const findings: Finding[] = [];
  for (const { sent, receiver } of sides) {
    const mode: Expect = sent.state === 'destroyed' ? 'prefix' : 'all';
    const fault = checkStream(format, run, sent.index, sent.messages, receiver.stream(), mode);
    if (fault !== undefined) findings.push({ conn: sent.index, text: describeFault(sent, fault) });
  }
  return findings;
}

function describeFault(sent: Sent, fault: Fault): string {
  const at = fault.frameOffset === undefined ? '' : `, frame offset ${fault.frameOffset}`;
  const expected = sent.messages[fault.index];
  return (
    `conn ${sent.index} [${fault.kind}] at message #${fault.index}` +
    `${expected === undefined ? '' : ` (${describeMessage(expected)})`} of ${sent.messages.length}` +
    ` (${sent.state}), stream offset ${fault.streamOffset}${at}: ${fault.detail}`
  );
}

/** Throws the failure report when anything was found: the seed and a command that replays the case. */
export function report(caseName: string, seed: number, summary: string, findings: readonly Finding[]): void {
  if (findings.length === 0) return;
  const faulty = new Set(findings.map((f) => f.conn).filter((c) => c !== undefined)).size;
  const lines = findings.slice(0, 8).map((f) => `  ${f.text}`);
  if (findings.length > 8) lines.push(`  … and ${findings.length - 8} more`);
  throw new Error(
    [
      `model run failed: ${caseName}`,
      `  seed ${BASE_SEED} (case seed ${seed}); ${summary}; ${faulty} connection(s) faulty`,
      `  repro: npm run test:model -- --seed ${BASE_SEED} -t '^${caseName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$'`,
      ...lines,
    ].join('\n'),
  );
}
