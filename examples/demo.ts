/**
 * The one-command demo: a TCP echo server; four clients sending messages of many sizes at once;
 * a raw socket that cuts its frames into pieces of 1 to 7 bytes; and a hostile peer whose
 * 4 GiB length header gets it cut off while everyone else carries on. It prints what happened,
 * what it measured and the checks it made, and exits 1 if any check failed.
 *
 *   npm start                 the story and the checks
 *   npm start -- --logs       the same, with the server's and clients' logs (pino-pretty)
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { TcpClient, TcpServer, type SockframeError } from 'sockframe';

const CLIENTS = 4;
const MESSAGES_PER_CLIENT = 75;
const MAX_MESSAGE_SIZE = 1024 * 1024;

const logger: Logger | undefined = process.argv.includes('--logs')
  ? pino({ level: 'info' }, pretty({ sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }))
  : undefined;

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sha1 = (message: Buffer): string => createHash('sha1').update(message).digest('hex');
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const opened = (socket: Socket): Promise<unknown> =>
  new Promise((resolve) => socket.once('connect', resolve));

/** Mostly small messages, some of a few KiB, a few over 64 KiB, and empty ones. */
function sizes(count: number): number[] {
  return Array.from({ length: count }, (_, i) => {
    if (i % 25 === 0) return 0;
    if (i % 10 === 0) return 64 * 1024 + i * 1000;
    if (i % 3 === 0) return 1024 + i * 37;
    return 8 + ((i * 131) % 500);
  });
}

interface ClientResult {
  sent: number;
  echoed: number;
  wrong: number;
  bytes: number;
  largest: number;
}

/** Sends its messages as fast as send() allows and checks every echo against its SHA-1. */
async function echoClient(port: number, name: string): Promise<ClientResult> {
  const client = new TcpClient({ port, host: '127.0.0.1', logger: logger?.child({ client: name }) });
  await client.connect();
  const expected: string[] = [];
  const result: ClientResult = { sent: 0, echoed: 0, wrong: 0, bytes: 0, largest: 0 };
  const allBack = new Promise<void>((resolve) => {
    client.on('message', (message) => {
      if (sha1(message) !== expected[result.echoed]) result.wrong++;
      if (++result.echoed === MESSAGES_PER_CLIENT) resolve();
    });
  });
  for (const size of sizes(MESSAGES_PER_CLIENT)) {
    const payload = randomBytes(size);
    expected.push(sha1(payload));
    result.sent++;
    result.bytes += size;
    result.largest = Math.max(result.largest, size);
    if (!client.send(payload)) await new Promise<void>((resolve) => client.once('drain', () => resolve()));
  }
  await allBack;
  await client.close();
  return result;
}

/** Writes five framed words through a plain socket in pieces of 1 to 7 bytes; true if all came back. */
async function splitWriter(port: number): Promise<{ writes: number; intact: boolean }> {
  const socket = connect(port, '127.0.0.1');
  await opened(socket);
  const frames = ['split', 'across', 'many', 'tiny', 'writes'].map((word) => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(word.length);
    return Buffer.concat([header, Buffer.from(word)]);
  });
  const stream = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  let received = 0;
  const back = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= stream.length) resolve();
    }),
  );
  let writes = 0;
  for (let at = 0; at < stream.length; writes++) {
    const piece = 1 + (writes % 7);
    socket.write(stream.subarray(at, at + piece));
    at += piece;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await back;
  socket.end();
  await new Promise((resolve) => socket.once('close', resolve));
  return { writes, intact: Buffer.concat(chunks).equals(stream) };
}

/** Announces a 4 GiB message and sends 3 bytes of it; reports whether the server hung up on it. */
async function hostilePeer(port: number): Promise<{ localPort: number; cutOff: boolean; afterMs: number }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {}); // a reset is one way of being cut off
  await opened(socket);
  const localPort = socket.localPort ?? -1;
  const started = performance.now();
  socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  const cutOff = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { localPort, cutOff, afterMs: performance.now() - started };
}

async function main(): Promise<number> {
  const server = new TcpServer({ logger, maxMessageSize: MAX_MESSAGE_SIZE });
  const errors: { err: SockframeError; remotePort: number | undefined }[] = [];
  const closedByError: number[] = [];
  server.on('message', (conn, message) => conn.send(message));
  server.on('error', (err, conn) => errors.push({ err, remotePort: conn?.remotePort }));
  server.on('close', (conn, reason) => {
    if (reason.kind === 'error') closedByError.push(conn.remotePort ?? -1);
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  say(
    `sockframe demo: a TCP echo server on 127.0.0.1:${port} (maxMessageSize ${mib(MAX_MESSAGE_SIZE)}), six peers at once`,
  );

  const started = performance.now();
  const [hostile, split, ...clients] = await Promise.all([
    hostilePeer(port),
    splitWriter(port),
    ...Array.from({ length: CLIENTS }, (_, i) => echoClient(port, `client-${i + 1}`)),
  ]);
  const elapsedMs = performance.now() - started;
  const stats = server.stats;
  await server.close();

  const sent = clients.reduce((n, c) => n + c.sent, 0);
  const echoed = clients.reduce((n, c) => n + c.echoed, 0);
  const wrong = clients.reduce((n, c) => n + c.wrong, 0);
  const bytes = clients.reduce((n, c) => n + c.bytes, 0);
  const largest = Math.max(...clients.map((c) => c.largest));
  const refusal = errors.find((e) => e.remotePort === hostile.localPort)?.err;
  const others = errors.filter((e) => e.remotePort !== hostile.localPort);

  say('');
  say(
    `- ${CLIENTS} clients sent ${sent} messages of 0 B to ${(largest / 1024).toFixed(0)} KiB (${mib(bytes)}),`,
  );
  say(`  ${echoed} came back; each was checked against the SHA-1 of what was sent: ${wrong} wrong.`);
  say(
    `- A raw socket wrote 5 frames in ${split.writes} writes of 1 to 7 bytes; ${split.intact ? 'all came back whole' : 'the echo differs'}.`,
  );
  say(
    hostile.cutOff
      ? `- A hostile peer announced a 4 GiB message: cut off ${hostile.afterMs.toFixed(0)} ms after its first 7 bytes, with ${refusal?.code ?? 'no error reported'}.`
      : '- A hostile peer announced a 4 GiB message and was still connected 5 s later.',
  );
  say(
    `- All of it took ${elapsedMs.toFixed(0)} ms, connecting included (a demo, not a benchmark: see npm run bench).`,
  );
  say(
    `- The server counted ${stats.connectionsTotal} connections, ${stats.messagesIn} messages and ${mib(stats.bytesIn)} in, ` +
      `errors ${JSON.stringify(stats.errors)}; then it closed gracefully.`,
  );

  const checks: [string, boolean][] = [
    ['every message came back, byte for byte', echoed === sent && wrong === 0],
    ['frames cut into 1-7 byte writes were reassembled', split.intact],
    [
      'the hostile peer was cut off from its header alone',
      hostile.cutOff && refusal?.code === 'ERR_FRAME_TOO_LARGE',
    ],
    [
      'no other connection saw an error or was closed by one',
      others.length === 0 && closedByError.join() === String(hostile.localPort),
    ],
    [
      'the server counted every connection and message',
      stats.connectionsTotal === CLIENTS + 2 && stats.messagesIn === sent + 5,
    ],
  ];
  const failed = checks.filter(([, ok]) => !ok);
  say('');
  for (const [what, ok] of checks) say(`${ok ? 'ok  ' : 'FAIL'}  ${what}`);
  say(`checks: ${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
