// Drives the Python peer (peer.py): one process per case, its case given as JSON on stdin.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Resources } from '../helpers/net';
export { prng as seeded } from '../helpers/random';

export const PEER = join(__dirname, 'peer.py');

/** Why the Python peers cannot run here, or undefined when python3 is present. */
export const NO_PYTHON_REASON: string | undefined =
  spawnSync('python3', ['--version']).status === 0 ? undefined : 'skipped: python3 is not installed';

export interface PeerResult {
  readonly done: true;
  readonly error?: string;
  readonly received?: string[];
  readonly eof?: boolean;
  readonly tlsVersion?: string;
  readonly sizes?: number[];
  readonly echoed?: { size: number; same: boolean }[];
}

export interface Peer {
  /** The peer's first line: `{ port }` or `{ ready: true }`. */
  readonly ready: { port?: number; ready?: boolean };
  /** The peer's last line, once it has exited. */
  readonly result: Promise<PeerResult>;
}

/** Starts a peer for `spec` (JSON, or the exact text for its stdin); killed after the test if still running. */
export function startPeer(
  resources: Resources,
  spec: Record<string, unknown> | string,
  command = 'python3',
  args = [PEER],
): Promise<Peer> {
  const child: ChildProcess = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  resources.add(child, (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: Record<string, unknown>[] = [];
  let onLine: (() => void) | undefined;
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let at: number;
    while ((at = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, at);
      stdout = stdout.slice(at + 1);
      if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      onLine?.();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const result = exited.then((code) => {
    const last = lines[lines.length - 1] as PeerResult | undefined;
    if (last?.done !== true) {
      throw new Error(`The peer exited (${String(code)}) without a result. stderr:\n${stderr}`);
    }
    return last;
  });
  child.stdin?.end(typeof spec === 'string' ? spec : `${JSON.stringify(spec)}\n`);
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const first = lines[0];
      if (first === undefined) return;
      if ('error' in first) reject(new Error(`The peer failed: ${String(first.error)}\n${stderr}`));
      else resolve({ ready: first, result });
    };
    onLine = check;
    exited.then(
      (code) =>
        reject(new Error(`The peer exited (${String(code)}) before it was ready. stderr:\n${stderr}`)),
      reject,
    );
  });
}

export function randomBytes(next: () => number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** A Netty layout, and the frame's first bytes (zeroes on the length field) that each frame carries. */
export interface Layout {
  readonly name: string;
  readonly offset: number;
  readonly size: 1 | 2 | 3 | 4 | 8;
  readonly adjust: number;
  readonly strip: number;
  readonly endian: 'big' | 'little';
  /** max(strip, offset + size) bytes: the frame's fixed front, zeroes where the field goes. */
  readonly magic: Buffer;
}

const cafe = (before: number[], field: number, after: number[] = []): Buffer =>
  Buffer.from([...before, ...new Array<number>(field).fill(0), ...after]);

/**
 * The layouts of Netty's LengthFieldBasedFrameDecoder Javadoc (its seven worked examples, with
 * their magic bytes), then the same layouts with the header stripped, and a few more widths.
 */
export const LAYOUTS: readonly Layout[] = [
  {
    name: 'Javadoc 1: 2-byte length, strip 0',
    offset: 0,
    size: 2,
    adjust: 0,
    strip: 0,
    endian: 'big',
    magic: cafe([], 2),
  },
  {
    name: 'Javadoc 2: 2-byte length, strip 2',
    offset: 0,
    size: 2,
    adjust: 0,
    strip: 2,
    endian: 'big',
    magic: cafe([], 2),
  },
  {
    name: 'Javadoc 3: 2-byte whole-frame length (adjust -2), strip 0',
    offset: 0,
    size: 2,
    adjust: -2,
    strip: 0,
    endian: 'big',
    magic: cafe([], 2),
  },
  {
    name: 'Javadoc 4: 0xCAFE then a 3-byte length, strip 0',
    offset: 2,
    size: 3,
    adjust: 0,
    strip: 0,
    endian: 'big',
    magic: cafe([0xca, 0xfe], 3),
  },
  {
    name: 'Javadoc 4, header stripped: 0xCAFE then a 3-byte length, strip 5',
    offset: 2,
    size: 3,
    adjust: 0,
    strip: 5,
    endian: 'big',
    magic: cafe([0xca, 0xfe], 3),
  },
  {
    name: 'Javadoc 5: 3-byte length then 0xCAFE (adjust 2), strip 0',
    offset: 0,
    size: 3,
    adjust: 2,
    strip: 0,
    endian: 'big',
    magic: cafe([], 3),
  },
  {
    name: 'Javadoc 6: HDR1, 2-byte length, HDR2 (adjust 1), strip 3',
    offset: 1,
    size: 2,
    adjust: 1,
    strip: 3,
    endian: 'big',
    magic: cafe([0xca], 2),
  },
  {
    name: 'Javadoc 7: HDR1, 2-byte whole-frame length (adjust -3), HDR2, strip 3',
    offset: 1,
    size: 2,
    adjust: -3,
    strip: 3,
    endian: 'big',
    magic: cafe([0xca], 2),
  },
  {
    name: 'HDR1, 2-byte length, HDR2 (adjust 1), strip 1',
    offset: 1,
    size: 2,
    adjust: 1,
    strip: 1,
    endian: 'big',
    magic: cafe([0xca], 2),
  },
  {
    name: 'HDR1 HDR2 all stripped: strip 4 past a 2-byte field at 1',
    offset: 1,
    size: 2,
    adjust: 1,
    strip: 4,
    endian: 'big',
    magic: cafe([0xca], 2, [0xfe]),
  },
  {
    name: 'default: 4-byte big-endian, strip 4',
    offset: 0,
    size: 4,
    adjust: 0,
    strip: 4,
    endian: 'big',
    magic: cafe([], 4),
  },
  { name: '1-byte length', offset: 0, size: 1, adjust: 0, strip: 1, endian: 'big', magic: cafe([], 1) },
  {
    name: '4-byte little-endian at 3 after a magic, strip 7',
    offset: 3,
    size: 4,
    adjust: 0,
    strip: 7,
    endian: 'little',
    magic: cafe([0x53, 0x46, 0x01], 4),
  },
  {
    name: '8-byte little-endian whole-frame length, strip 0',
    offset: 0,
    size: 8,
    adjust: -8,
    strip: 0,
    endian: 'little',
    magic: cafe([], 8),
  },
  {
    name: '8-byte big-endian, strip 8',
    offset: 0,
    size: 8,
    adjust: 0,
    strip: 8,
    endian: 'big',
    magic: cafe([], 8),
  },
];

/** The frame for `body` (the bytes after the fixed front), built from Netty's rule by hand. */
export function frameOf(layout: Layout, body: Buffer): Buffer {
  const frame = Buffer.concat([layout.magic, body]);
  const value = frame.length - layout.offset - layout.size - layout.adjust;
  const field = Buffer.alloc(8);
  if (layout.endian === 'big') field.writeBigUInt64BE(BigInt(value));
  else field.writeBigUInt64LE(BigInt(value));
  const bytes = layout.endian === 'big' ? field.subarray(8 - layout.size) : field.subarray(0, layout.size);
  bytes.copy(frame, layout.offset);
  return frame;
}

/** The JSON a peer takes for a layout. */
export function layoutSpec(layout: Layout): Record<string, unknown> {
  return { ...layout, name: undefined, magic: layout.magic.toString('hex') };
}
