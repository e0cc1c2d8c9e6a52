import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { TcpServer, type SockframeError, type TcpServerOptions } from 'sockframe';
import type { Resources } from '../helpers/net';

export { freePort as releasedPort, tlsCert, tlsKey } from '../helpers/net';

/** A TcpServer on 127.0.0.1, port 0, echoing every message and recording server-side errors. */
export async function echoServer(
  resources: Resources,
  options: TcpServerOptions = {},
  port = 0,
): Promise<{ server: TcpServer; port: number; errors: SockframeError[] }> {
  const server = resources.add(new TcpServer(options), (s) => s.close({ timeout: 500 }));
  const errors: SockframeError[] = [];
  server.on('message', (conn, message) => {
    if (conn.isOpen) conn.send(message);
  });
  server.on('error', (err) => errors.push(err));
  const address = await server.listen({ port, host: '127.0.0.1' });
  return { server, port: address.port, errors };
}

/** A plain net server on 127.0.0.1, port 0; every accepted socket is kept and destroyed at the end. */
export async function rawServer(
  resources: Resources,
  onSocket: (socket: Socket) => void = () => {},
): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  resources.add(server, (s) => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

// The listener lives in a worker whose thread then blocks, so nothing ever accepts on it.
const STALLED_LISTENER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(workerData), 0, 0);
  server.close();
});
`;

/**
 * A loopback port whose listener never accepts and whose accept queue is full, so the kernel
 * leaves every further SYN unanswered: a connection attempt to it hangs until it is given up.
 */
export async function unansweredPort(resources: Resources): Promise<number> {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(STALLED_LISTENER, { eval: true, workerData: wake.buffer });
  resources.add(worker, async (w) => {
    Atomics.store(wake, 0, 1);
    Atomics.notify(wake, 0);
    await new Promise<void>((resolve) => {
      w.once('exit', () => resolve());
      setTimeout(() => void w.terminate(), 2000).unref();
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (value: number) => resolve(value));
    worker.once('error', reject);
  });
  // Fill the accept queue until one more connection no longer completes.
  for (let i = 0; i < 16; i++) {
    const filler = connect({ port, host: '127.0.0.1' });
    filler.on('error', () => {});
    resources.add(filler, (s) => s.destroy());
    const completed = await new Promise<boolean>((resolve) => {
      // Loopback connections complete at once; half a second leaves room for a loaded machine.
      const timer = setTimeout(() => resolve(false), 500);
      filler.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!completed) return port;
  }
  throw new Error('Could not fill the accept queue of the stalled listener');
}

/** Resolves with the first `event` of `emitter`, or rejects after `ms`. */
export function nextEvent<T extends unknown[]>(
  emitter: { once(event: string, listener: (...args: T) => void): unknown },
  event: string,
  ms = 5000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No '${event}' event within ${ms} ms`)), ms);
    emitter.once(event, (...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}
