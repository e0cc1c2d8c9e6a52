/**
 * How a connection keeps where its queued messages end, driven step by step: a socket stand-in
 * says how many bytes it still holds, so each 'drain' lets go of a known number of messages,
 * and the close must count exactly the rest. A real socket reports written bytes only in coarse
 * jumps (a whole writev at a time), so the partial let-go and its compaction are driven here.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { lengthField, type CloseReason } from 'sockframe';
import { Connection } from '../../src/connection';
import { SlabArena } from '../../src/write-batch';
import { prng as seeded } from '../stress/support';

/** Takes every write and holds it until told how many bytes are still unwritten. */
class HeldSocket extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  writable = true;
  remoteAddress = '127.0.0.1';
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean {
    this.writableLength += chunk.length;
    if (callback !== undefined) this.once('written', callback);
    return true;
  }
  cork(): void {}
  uncork(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {
    this.destroyed = true;
    this.writable = false;
    setImmediate(() => this.emit('close', false));
  }
  /** The socket passed on all but `left` bytes. */
  leave(left: number): void {
    this.writableLength = left;
    this.emit('written');
    this.emit('drain');
  }
}

const silent = {
  isLevelEnabled: () => false,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silent;
  },
};

const nextTick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** Queue `count` messages, or let the socket pass on every message before index `written`. */
type Step = { queue: number } | { written: number };

const plans: [string, Step[]][] = [
  ['nothing let go', [{ queue: 2000 }, { written: 0 }]],
  ['one message at a time, none let go', [{ queue: 1 }, { written: 0 }]],
  [
    'one message at a time, let go in turn',
    [{ queue: 1 }, { written: 1 }, { queue: 1 }, { queue: 1 }, { written: 2 }],
  ],
  ['closed right after a compaction', [{ queue: 3000 }, { written: 2600 }]],
  [
    'more queued and let go after compactions',
    [
      { queue: 3000 },
      { written: 2600 },
      { queue: 700 },
      { written: 3100 },
      { queue: 200 },
      { written: 3850 },
    ],
  ],
  ['let go below the compaction mark', [{ queue: 1500 }, { written: 700 }, { queue: 10 }, { written: 1000 }]],
  [
    'kept again after everything had left',
    [{ queue: 500 }, { written: 500 }, { queue: 300 }, { written: 620 }],
  ],
];

test.each(plans)(
  'messages let go in partial steps (%s): the close counts exactly the rest',
  async (_name, plan) => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const random = seeded(seed);
    const socket = new HeldSocket();
    let closeReason: CloseReason | undefined;
    const conn = new Connection(
      1,
      socket as unknown as Socket,
      {
        framing: lengthField(),
        maxMessageSize: 1 << 20,
        maxHeaderBytes: 64,
        maxPendingBytes: 1 << 30,
        idleTimeout: 0,
        messageTimeout: 0,
        arena: new SlabArena(),
      },
      { message() {}, error() {}, close: (reason) => (closeReason = reason) },
      silent as never,
    );
    // Where each queued frame ends, in bytes since the start: the test's own record.
    const ends: number[] = [];
    let queued = 0;
    let written = 0;
    let left = 0;
    for (const step of plan) {
      if ('queue' in step) {
        for (let i = 0; i < step.queue; i++) {
          const size = Math.floor(random() * 40);
          conn.send(Buffer.alloc(size, i & 0xff));
          queued += 4 + size;
          ends.push(queued);
        }
        await nextTick();
      } else {
        // Every message before `written` has left, and two bytes of the next one if there is one.
        written = step.written;
        const before = written === 0 ? 0 : (ends[written - 1] as number);
        left = written === ends.length ? 0 : queued - before - 2;
        socket.leave(left);
      }
    }
    const context = `seed ${seed}`;
    expect({ context, pending: conn.pendingBytes }).toEqual({ context, pending: left });
    conn.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect({ context, unsent: [closeReason?.unsentMessages, closeReason?.unsentBytes] }).toEqual({
      context,
      unsent: [ends.length - written, left],
    });
  },
);
