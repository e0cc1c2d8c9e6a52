/**
 * Load with nothing lost: many clients, random sizes, random splits, every reply checked by hash,
 * in order, none lost or duplicated — over TCP, IPC and TLS — and a graceful close in the middle
 * of the load.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { IpcServer, TcpServer, TlsServer } from 'sockframe';
import { frame, Resources, tmpSocketPath } from '../helpers/net';
import { ReplyReader, RssSampler, logUniform, payload, prng, report, sha1, writeSplit } from './support';

const MAX_SIZE = 256 * 1024;
const MAX_PIECE = 64 * 1024;
const fixtures = join(__dirname, '..', 'fixtures');

const resources = new Resources();
afterEach(() => resources.closeAll());

interface ClientResult {
  sent: number;
  bytes: number;
  mismatches: number;
  extra: number;
}

/**
 * One client: writes `count` framed messages of random size in random splits, and checks each
 * reply against the hash of what it sent, in order.
 */
async function runClient(socket: Socket, seed: number, count: number): Promise<ClientResult> {
  const random = prng(seed);
  const expected: string[] = [];
  const reader = new ReplyReader();
  const done = new Promise<void>((resolve, reject) => {
    reader.onReply = () => {
      if (reader.replies.length === count) resolve();
    };
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.once('close', () =>
      reject(new Error(`closed after ${reader.replies.length} of ${count} replies`)),
    );
  });
  done.catch(() => {}); // awaited below; a close while still writing is reported there
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const body = payload(random, logUniform(random, 0, MAX_SIZE));
    expected.push(sha1(body));
    bytes += body.length;
    await writeSplit(socket, frame(body), random, MAX_PIECE);
  }
  await done;
  socket.end();
  const mismatches = expected.filter((hash, i) => reader.replies[i] !== hash).length;
  return { sent: count, bytes, mismatches, extra: reader.replies.length - count };
}

async function load(
  name: string,
  server: TcpServer | IpcServer | TlsServer,
  open: () => Promise<Socket>,
  clients: number,
  perClient: number,
): Promise<void> {
  const errors: string[] = [];
  server.on('message', (conn, message) => conn.send(message));
  server.on('error', (err) => errors.push(err.code));
  const rss = new RssSampler();
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: clients }, async (_, i) =>
      runClient(resources.socket(await open()), 1000 + i, perClient),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  const memory = rss.stop();
  const messages = results.reduce((n, r) => n + r.sent, 0);
  const bytes = results.reduce((n, r) => n + r.bytes, 0);
  report(name, { clients, messages, bytesEachWay: bytes, seconds, ...memory, errors });
  expect(errors).toEqual([]);
  expect(results.map((r) => r.mismatches)).toEqual(results.map(() => 0));
  expect(results.map((r) => r.extra)).toEqual(results.map(() => 0));
  expect(messages).toBe(clients * perClient);
}

test('TCP: 200 clients × 500 messages of 0 B–256 KiB in random 1 B–64 KiB splits, all echoed intact', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close());
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = netConnect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });
  await load('load-tcp', server, open, 200, 500);
}, 600_000);

test('IPC: 50 clients × 200 messages, all echoed intact', async () => {
  const server = resources.add(new IpcServer(), (s) => s.close());
  const path = tmpSocketPath();
  await server.listen({ path });
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = netConnect({ path }, () => resolve(socket));
      socket.once('error', reject);
    });
  await load('load-ipc', server, open, 50, 200);
}, 300_000);

test('TLS: 20 clients × 200 messages, all echoed intact', async () => {
  const cert = readFileSync(join(fixtures, 'test-only-localhost.cert.pem'));
  const key = readFileSync(join(fixtures, 'test-only-localhost.key.pem'));
  const server = resources.add(new TlsServer({ key, cert }), (s) => s.close());
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' }, () =>
        resolve(socket),
      );
      socket.once('error', reject);
    });
  await load('load-tls', server, open, 20, 200);
}, 300_000);

test('graceful close under load: every message the server accepted is answered', async () => {
  const server = resources.add(new TcpServer(), (s) => s.close());
  const accepted = new Map<number, number>();
  const beforeClose = new Map<number, number>();
  let closing = false;
  let acceptedBeforeClose = 0;
  let failedSends = 0;
  server.on('message', (conn, message) => {
    const id = conn.id;
    accepted.set(id, (accepted.get(id) ?? 0) + 1);
    if (!closing) {
      acceptedBeforeClose++;
      beforeClose.set(id, (beforeClose.get(id) ?? 0) + 1);
    }
    try {
      conn.send(message);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_NOT_CONNECTED') throw err;
      failedSends++;
    }
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

  const CLIENTS = 20;
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const socket = resources.socket(
        await new Promise<Socket>((resolve, reject) => {
          const s = netConnect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
      );
      socket.on('error', () => {});
      const random = prng(5000 + i);
      const reader = new ReplyReader();
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      const sent: string[] = [];
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // Keep writing until the server ends this connection.
      void (async () => {
        while (!socket.destroyed && !socket.writableEnded && sent.length < 100_000) {
          const body = payload(random, logUniform(random, 0, 16 * 1024));
          sent.push(sha1(body));
          if (!socket.write(frame(body))) {
            await new Promise<void>((resolve) => {
              socket.once('drain', resolve);
              socket.once('close', resolve);
            });
          }
          if (sent.length % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const id = await new Promise<number>((resolve) => {
        const check = setInterval(() => {
          const conn = [...server.connections.values()].find((c) => c.remotePort === socket.localPort);
          if (conn !== undefined) {
            clearInterval(check);
            resolve(conn.id);
          }
        }, 1);
      });
      return { socket, reader, sent, ended, id };
    }),
  );
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (acceptedBeforeClose >= 5000) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  closing = true;
  const before = acceptedBeforeClose;
  await server.close({ timeout: 10_000 });
  // The server ended every connection; our side ends when it has read everything.
  for (const c of clients) c.socket.end();
  await Promise.all(clients.map((c) => c.ended));

  const totalAccepted = [...accepted.values()].reduce((a, b) => a + b, 0);
  const totalReplies = clients.reduce((n, c) => n + c.reader.replies.length, 0);
  report('graceful-close-under-load', {
    clients: CLIENTS,
    acceptedBeforeClose: before,
    acceptedInAll: totalAccepted,
    replies: totalReplies,
    failedSends,
  });
  // Messages that arrived after close() began are still delivered; the connection's write side is
  // already ending, so answering them throws ERR_NOT_CONNECTED at the server: none vanish silently.
  expect(totalReplies + failedSends).toBe(totalAccepted);
  expect(totalAccepted).toBeGreaterThanOrEqual(before);
  for (const c of clients) {
    // Everything this connection had accepted before close() began was answered.
    expect(c.reader.replies.length).toBeGreaterThanOrEqual(beforeClose.get(c.id) ?? 0);
    // Replies are exactly a prefix of what was sent, in order.
    const mismatched = c.reader.replies.filter((hash, i) => c.sent[i] !== hash).length;
    expect(mismatched).toBe(0);
  }
}, 120_000);
