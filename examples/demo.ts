/**
 * The one-command demo: a TCP echo server, several clients sending messages of varied sizes,
 * a raw client that splits its frames by hand across many writes, and a hostile client whose
 * 4 GiB length header gets it cut off while everyone else carries on. Exits 0 by itself.
 *
 *   npm start
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pino from 'pino';
import pretty from 'pino-pretty';
import { TcpClient, TcpServer, type SockframeError } from 'sockframe';

const CLIENTS = 4;
const MESSAGES_PER_CLIENT = 75;

const logger = pino(
  { level: 'info' },
  pretty({ sync: true, colorize: process.stdout.isTTY, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
);

function sizes(count: number): number[] {
  // Mostly small, some medium, a few large: 0 B up to 256 KiB.
  return Array.from({ length: count }, (_, i) => {
    if (i % 25 === 0) return 0;
    if (i % 10 === 0) return 64 * 1024 + i * 1000;
    if (i % 3 === 0) return 1024 + i * 37;
    return 8 + ((i * 131) % 500);
  });
}

function digest(message: Buffer): string {
  return createHash('sha1').update(message).digest('hex');
}

async function runClient(
  port: number,
  id: number,
): Promise<{ sent: number; bytes: number; mismatches: number }> {
  const client = new TcpClient({ port, host: '127.0.0.1', logger });
  const expected: string[] = [];
  let mismatches = 0;
  let received = 0;
  await client.connect();
  const done = new Promise<void>((resolve) => {
    client.on('message', (message) => {
      if (digest(message) !== expected[received]) mismatches++;
      received++;
      if (received === MESSAGES_PER_CLIENT) resolve();
    });
  });
  let bytes = 0;
  for (const size of sizes(MESSAGES_PER_CLIENT)) {
    const payload = randomBytes(size);
    payload.write(`client ${id}`.slice(0, size));
    expected.push(digest(payload));
    bytes += size;
    if (!client.send(payload)) await new Promise<void>((resolve) => client.once('drain', () => resolve()));
  }
  await done;
  await client.close();
  return { sent: MESSAGES_PER_CLIENT, bytes, mismatches };
}

/** Writes framed messages through a plain socket, cut into pieces of 1 to 7 bytes. */
async function runSplitWriter(port: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const messages = ['split', 'across', 'many', 'tiny', 'writes'].map((word) =>
    Buffer.from(`${word} (by hand)`),
  );
  const stream = Buffer.concat(
    messages.map((payload) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(payload.length);
      return Buffer.concat([header, payload]);
    }),
  );
  let echoed = Buffer.alloc(0);
  const allBack = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      echoed = Buffer.concat([echoed, chunk]);
      if (echoed.length === stream.length) resolve();
    }),
  );
  for (let at = 0; at < stream.length;) {
    const piece = 1 + (at % 7);
    socket.write(stream.subarray(at, at + piece));
    at += piece;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await allBack;
  socket.end();
  if (!echoed.equals(stream)) throw new Error('split writer: echo differs');
  return messages.length;
}

/** Announces a 4 GiB message; the server refuses it from the header alone. */
async function runHostileClient(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  await new Promise((resolve) => socket.once('close', resolve));
  return true;
}

async function main(): Promise<void> {
  const server = new TcpServer({ logger, maxMessageSize: 1024 * 1024 });
  const errors: SockframeError[] = [];
  server.on('message', (conn, message) => conn.send(message));
  server.on('error', (err) => errors.push(err));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

  const started = process.hrtime.bigint();
  const [hostileCutOff, splitMessages, ...results] = await Promise.all([
    runHostileClient(port),
    runSplitWriter(port),
    ...Array.from({ length: CLIENTS }, (_, i) => runClient(port, i + 1)),
  ]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await server.close();

  const messages = results.reduce((n, r) => n + r.sent, 0) + splitMessages;
  const bytes = results.reduce((n, r) => n + r.bytes, 0);
  const mismatches = results.reduce((n, r) => n + r.mismatches, 0);
  const lines = [
    '',
    '──────────── sockframe demo summary ────────────',
    `clients                 ${CLIENTS} + 1 split-writer + 1 hostile`,
    `messages echoed         ${messages} (${splitMessages} written in 1–7 byte pieces)`,
    `payload bytes           ${(bytes / 1024 / 1024).toFixed(2)} MiB each way`,
    `time                    ${(seconds * 1000).toFixed(0)} ms (${(messages / seconds).toFixed(0)} messages/s incl. setup)`,
    `echo mismatches         ${mismatches}`,
    `hostile client cut off  ${hostileCutOff ? 'yes' : 'no'}`,
    `errors seen             ${errors.map((e) => e.code).join(', ') || 'none'}`,
    '────────────────────────────────────────────────',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const ok = mismatches === 0 && errors.length === 1 && errors[0]?.code === 'ERR_FRAME_TOO_LARGE';
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${String(err)}\n`);
  process.exitCode = 1;
});
