// One case of the runtime suite, run by node, bun or deno against the built package (dist/):
//   <runtime> suite.cjs <dist/index.js> <case> <seed>
// Prints one JSON line: {"ok":true} or {"ok":false,"error":"..."}; exits 0 or 1.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script run by node, bun and deno directly */
/* global Buffer, setTimeout, clearTimeout, setImmediate */
'use strict';
const net = require('node:net');
const tls = require('node:tls');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const [distPath, caseName, seedText] = process.argv.slice(2);
const sf = require(distPath);
const fixtures = path.join(__dirname, '..', 'fixtures');
const cert = fs.readFileSync(path.join(fixtures, 'test-only-localhost.cert.pem'));
const key = fs.readFileSync(path.join(fixtures, 'test-only-localhost.key.pem'));

let seed = Number(seedText) >>> 0;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function frame(payload) {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

/** Reads default-framed messages from a raw socket with a decoder of its own. */
function reader(socket) {
  let backlog = Buffer.alloc(0);
  const messages = [];
  let waiting = null;
  socket.on('data', (chunk) => {
    backlog = Buffer.concat([backlog, chunk]);
    while (backlog.length >= 4 && backlog.length >= 4 + backlog.readUInt32BE(0)) {
      const length = backlog.readUInt32BE(0);
      messages.push(backlog.subarray(4, 4 + length));
      backlog = backlog.subarray(4 + length);
    }
    if (waiting && messages.length >= waiting.count) waiting.resolve();
  });
  return {
    messages,
    wait: (count, ms = 10000) =>
      new Promise((resolve, reject) => {
        if (messages.length >= count) return resolve();
        const timer = setTimeout(() => reject(new Error(`got ${messages.length} of ${count} messages`)), ms);
        waiting = { count, resolve: () => (clearTimeout(timer), resolve()) };
      }),
  };
}

/** Writes `bytes` cut at random points, one piece per turn of the event loop. */
async function writeCut(socket, bytes) {
  let at = 0;
  while (at < bytes.length) {
    const n = Math.max(1, Math.floor(random() ** 3 * 5000));
    socket.write(bytes.subarray(at, at + n));
    at += n;
    if (random() < 0.3) await new Promise((r) => setImmediate(r));
  }
}

const payloads = () =>
  [0, 1, 2, 300, 70000, ...Array.from({ length: 40 }, () => Math.floor(random() * 2000))].map((n) =>
    crypto.randomBytes(n),
  );

async function streamEcho(server, listenOptions, connect) {
  server.on('message', (conn, message) => conn.send(message));
  const address = await server.listen(listenOptions);
  const socket = await connect(address);
  const read = reader(socket);
  const sent = payloads();
  await writeCut(socket, Buffer.concat(sent.map(frame)));
  await read.wait(sent.length);
  sent.forEach((p, i) => assert(read.messages[i].equals(p), `message ${i} of ${p.length} bytes differs`));
  socket.destroy();
  await server.close({ timeout: 1000 });
}

const onConnect = (socket, event = 'connect') =>
  new Promise((resolve, reject) => {
    socket.once(event, () => resolve(socket));
    socket.once('error', reject);
  });

const socketPath = () =>
  path.join(os.tmpdir(), `sockframe-rt-${process.pid}-${crypto.randomBytes(4).toString('hex')}.sock`);

async function faultCase(bytes, code) {
  // One peer sends a bad frame; it alone is closed with a typed error; the server still serves.
  const server = new sf.TcpServer({ maxMessageSize: 1024 });
  const errors = [];
  server.on('error', (err) => errors.push(err));
  server.on('message', (conn, message) => conn.send(message));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const bad = await onConnect(net.connect(port, '127.0.0.1'));
  bad.on('error', () => {});
  const closed = new Promise((r) => bad.once('close', r));
  bad.write(bytes);
  await closed;
  assert(errors.length === 1, `expected one error, got ${errors.length}`);
  assert(errors[0] instanceof sf.SockframeError, 'the error is a SockframeError');
  assert(errors[0].code === code, `expected ${code}, got ${errors[0].code}`);
  const good = await onConnect(net.connect(port, '127.0.0.1'));
  const read = reader(good);
  good.write(frame(Buffer.from('still serving')));
  await read.wait(1);
  assert(read.messages[0].toString() === 'still serving', 'the server still serves');
  good.destroy();
  await server.close({ timeout: 1000 });
}

const CASES = {
  async tcp() {
    await streamEcho(new sf.TcpServer(), { port: 0, host: '127.0.0.1' }, ({ port }) =>
      onConnect(net.connect(port, '127.0.0.1')),
    );
  },
  async ipc() {
    await streamEcho(new sf.IpcServer(), { path: socketPath() }, ({ path: p }) => onConnect(net.connect(p)));
  },
  async tls() {
    await streamEcho(new sf.TlsServer({ key, cert }), { port: 0, host: '127.0.0.1' }, ({ port }) =>
      onConnect(tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: cert }), 'secureConnect'),
    );
  },
  async 'stream-client'() {
    // The library's own client against its server, pipelining in one tick.
    const server = new sf.TcpServer();
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = new sf.TcpClient({ host: '127.0.0.1', port });
    const got = [];
    client.on('message', (m) => got.push(Buffer.from(m)));
    await client.connect();
    const sent = payloads();
    for (const p of sent) client.send(p);
    const deadline = Date.now() + 10000;
    while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    sent.forEach((p, i) => assert(got[i] && got[i].equals(p), `message ${i} differs`));
    await client.close();
    await server.close({ timeout: 1000 });
  },
  async udp() {
    const server = new sf.UdpServer({ type: 'udp4' });
    server.on('message', (peer, message) => peer.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = new sf.UdpClient({ type: 'udp4', host: '127.0.0.1', port });
    const got = [];
    client.on('message', (m) => got.push(Buffer.from(m)));
    client.on('error', () => {});
    await client.connect();
    try {
      for (const size of [0, 1, 1472, 9000, sf.MAX_UDP4_DATAGRAM]) {
        const payload = crypto.randomBytes(size);
        client.send(payload);
        const deadline = Date.now() + 5000;
        while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        const echo = got.shift();
        assert(echo && echo.equals(payload), `echo of ${size} bytes`);
      }
      let tooLarge;
      try {
        client.send(Buffer.alloc(sf.MAX_UDP4_DATAGRAM + 1));
      } catch (err) {
        tooLarge = err;
      }
      assert(
        tooLarge && tooLarge.code === 'ERR_DATAGRAM_TOO_LARGE',
        'ERR_DATAGRAM_TOO_LARGE before the socket',
      );
    } finally {
      await client.close();
      await server.close({ timeout: 1000 });
    }
  },
  async 'frame-too-large'() {
    await faultCase(frame(Buffer.alloc(2000)), 'ERR_FRAME_TOO_LARGE');
  },
  async 'hostile-header'() {
    await faultCase(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), 'ERR_FRAME_TOO_LARGE');
  },
  async 'graceful-close'() {
    // close(): messages already sent are delivered and answered, then each connection ends.
    const server = new sf.TcpServer();
    server.on('message', (conn, message) => conn.send(message));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const socket = await onConnect(net.connect(port, '127.0.0.1'));
    const read = reader(socket);
    const ended = new Promise((r) => socket.once('end', r));
    socket.write(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]));
    await read.wait(2);
    const closing = server.close({ timeout: 3000 });
    await ended;
    await closing;
    assert(server.connections.size === 0, 'no connection left');
    let refused = false;
    await onConnect(net.connect(port, '127.0.0.1')).then(
      (s) => s.destroy(),
      () => (refused = true),
    );
    assert(refused, 'a closed server accepts no connection');
    socket.destroy();
  },
};

(async () => {
  const run = CASES[caseName];
  if (!run) throw new Error(`unknown case ${caseName}`);
  await run();
})().then(
  () => {
    process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
    process.exit(0);
  },
  (err) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String((err && err.stack) || err) })}\n`);
    process.exit(1);
  },
);
