/**
 * MessageAssembler throughput against a naive Buffer.concat parser and a plain copy of the same
 * bytes (the memory ceiling), interleaved over several rounds; medians and ratios are printed.
 *
 *   npm run bench:assembler [-- --rounds 7 --mib 64]
 */
import { lengthField, MessageAssembler } from 'sockframe';
import { formatRate, markdownTable, median, progress } from './stats';

interface Workload {
  name: string;
  messageSize: number;
  chunkSize: number;
}

const args = process.argv.slice(2);
const argValue = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const rounds = argValue('rounds', 7);
const streamMiB = argValue('mib', 64);

const workloads: Workload[] = [
  { name: '64 B in 64 KiB chunks', messageSize: 64, chunkSize: 65536 },
  { name: '1 KiB in 64 KiB chunks', messageSize: 1024, chunkSize: 65536 },
  { name: '64 KiB in 64 KiB chunks', messageSize: 65536, chunkSize: 65536 },
  { name: '64 KiB in 1,460 B chunks', messageSize: 65536, chunkSize: 1460 },
];

function buildStream(
  messageSize: number,
  chunkSize: number,
): { chunks: Buffer[]; messages: number; bytes: number } {
  const frameSize = messageSize + 4;
  const messages = Math.max(1, Math.floor((streamMiB * 1024 * 1024) / frameSize));
  const stream = Buffer.allocUnsafe(messages * frameSize);
  for (let i = 0; i < messages; i++) {
    const at = i * frameSize;
    stream.writeUInt32BE(messageSize, at);
    stream.fill(i & 0xff, at + 4, at + frameSize);
  }
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += chunkSize) chunks.push(stream.subarray(at, at + chunkSize));
  return { chunks, messages, bytes: stream.length };
}

type Contender = (chunks: readonly Buffer[]) => number;

const assembler: Contender = (chunks) => {
  let count = 0;
  const a = new MessageAssembler({
    framing: lengthField(),
    onMessage: () => {
      count++;
    },
    onError: (err) => {
      throw err;
    },
  });
  for (const chunk of chunks) a.push(chunk);
  return count;
};

/** What hand-rolled parsers often do: concatenate the backlog with every chunk. */
const naive: Contender = (chunks) => {
  let count = 0;
  let backlog = Buffer.alloc(0);
  for (const chunk of chunks) {
    backlog = Buffer.concat([backlog, chunk]);
    let offset = 0;
    while (backlog.length - offset >= 4) {
      const length = backlog.readUInt32BE(offset);
      if (backlog.length - offset - 4 < length) break;
      const message = backlog.subarray(offset + 4, offset + 4 + length);
      if (message.length === length) count++;
      offset += 4 + length;
    }
    backlog = backlog.subarray(offset);
  }
  return count;
};

let sink: Buffer = Buffer.alloc(0);
/** Copies every byte once into a preallocated buffer: what moving the bytes costs at least. */
const plainCopy: Contender = (chunks) => {
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  if (sink.length < total) sink = Buffer.allocUnsafe(total);
  let at = 0;
  for (const chunk of chunks) at += chunk.copy(sink, at);
  return at;
};

function time(run: Contender, chunks: readonly Buffer[]): { seconds: number; result: number } {
  const start = process.hrtime.bigint();
  const result = run(chunks);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

const contenders: [string, Contender][] = [
  ['assembler', assembler],
  ['naive concat', naive],
  ['plain copy', plainCopy],
];

const rows: string[][] = [];
const summary: Record<string, Record<string, number>> = {};
for (const workload of workloads) {
  const { chunks, messages, bytes } = buildStream(workload.messageSize, workload.chunkSize);
  // The naive parser is quadratic when messages span many chunks; give it a shorter stream there.
  const naiveChunks =
    workload.chunkSize < workload.messageSize ? chunks.slice(0, Math.ceil(chunks.length / 16)) : chunks;
  const naiveBytes = naiveChunks.reduce((n, c) => n + c.length, 0);
  const seconds: Record<string, number[]> = { assembler: [], 'naive concat': [], 'plain copy': [] };
  for (let i = 0; i < 2; i++) for (const [, run] of contenders) run(chunks.slice(0, 64)); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const [name, run] of order) {
      const input = name === 'naive concat' ? naiveChunks : chunks;
      const { seconds: s, result } = time(run, input);
      if (name === 'assembler' && result !== messages)
        throw new Error(`assembler delivered ${result} of ${messages}`);
      if (name === 'plain copy' && result !== bytes) throw new Error('plain copy lost bytes');
      seconds[name]?.push(name === 'naive concat' ? (s * bytes) / naiveBytes : s);
    }
    progress(`${workload.name}: round ${round + 1}/${rounds}`);
  }
  const a = median(seconds['assembler'] as number[]);
  const n = median(seconds['naive concat'] as number[]);
  const c = median(seconds['plain copy'] as number[]);
  summary[workload.name] = {
    assemblerMessagesPerSecond: messages / a,
    assemblerMBps: bytes / a / 1e6,
    naiveMessagesPerSecond: messages / n,
    copyMBps: bytes / c / 1e6,
    ratioToNaive: n / a,
    ratioToCopy: c / a,
  };
  rows.push([
    workload.name,
    `${formatRate(messages / a)}/s`,
    `${(bytes / a / 1e6).toFixed(0)} MB/s`,
    `${formatRate(messages / n)}/s`,
    `${(bytes / c / 1e6).toFixed(0)} MB/s`,
    `${(n / a).toFixed(2)}×`,
    `${((c / a) * 100).toFixed(0)}%`,
  ]);
}

console.log(
  `MessageAssembler, ${streamMiB} MiB per run, median of ${rounds} interleaved rounds, Node ${process.version}\n`,
);
console.log(
  markdownTable(
    [
      'workload',
      'assembler msg/s',
      'assembler MB/s',
      'naive msg/s',
      'plain copy MB/s',
      'vs naive',
      'of copy ceiling',
    ],
    rows,
  ),
);
if (args.includes('--json')) console.log(JSON.stringify(summary, null, 2));
