/**
 * Every contender of the benchmark suite behind one small interface: a server (counting, or
 * echoing each message to its sender) and a client (send with backpressure, close). Each runs in
 * its own processes (bench/worker.ts); nothing here is shared between two contenders at run time.
 */
import { subscribe, tracingChannel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Transform } from 'node:stream';
import { TcpClient, TcpServer, type StreamClient, type StreamServer } from 'sockframe';
import { BaselineParser, BaselineWriter, NaiveParser, naiveFrame } from './baseline';
import { HELLO_SIZE } from './fanout';

export const HOST = '127.0.0.1';
const FIRST = 0xab;
const LAST = 0xcd;

/** What travels: bytes, or text for node-ipc, whose messages are JSON. */
export type Message = Buffer | string;

export interface ServeOptions {
  /** Reply to every message with the same message. */
  echo: boolean;
  /** Called for every message received. */
  onMessage?: (message: Message) => void;
  /** The largest message the server must accept, in bytes. */
  maxMessageSize: number;
}

export interface ServerHandle {
  port: number;
  /** Connections currently open. */
  connections(): number;
  close(): Promise<void>;
}

export interface ClientHandle {
  /** Queues one message: false means wait for drained(); a promise must be awaited first. */
  send(message: Message): boolean | Promise<void>;
  drained(): Promise<void>;
  /** Flushes what is queued, then closes. */
  close(): Promise<void>;
}

export type WorkloadId =
  | 'flood-64'
  | 'flood-1k'
  | 'flood-64k'
  | 'flood-1m'
  | 'echo-latency'
  | 'echo-100'
  | 'echo-50'
  | 'echo-1000'
  | 'churn'
  | 'idle'
  | 'fanout-broadcast'
  | 'fanout-each'
  | 'rpc-1'
  | 'rpc-32'
  | 'rpc-100x32'
  // Over TLS and Unix sockets (bench/transports.ts), and UDP (bench/udp.ts).
  | 'tls-flood-64'
  | 'tls-flood-64k'
  | 'tls-echo-latency'
  | 'tls-echo-50'
  | 'ipc-flood-64'
  | 'ipc-flood-64k'
  | 'ipc-echo-latency'
  | 'ipc-echo-50'
  | 'udp-64'
  | 'udp-1400';

/**
 * The server side of the fan-out workload: it holds connections that each opened with a greeting
 * naming itself (see bench/fanout.ts), and sends to all of them at once.
 */
export interface FanoutServer {
  port: number;
  /** Resolves once every expected connection has sent its greeting. */
  identified: Promise<void>;
  /** Sends one payload to every connection. */
  broadcast(payload: Buffer): void;
  /** Sends every connection its own payload, in one loop over the connections. */
  sendEach(make: (identity: number) => Buffer): void;
  /**
   * Lets this turn's writes go out, then waits (for 'drain', or the close) on every connection
   * holding FANOUT_PENDING_MARK or more unsent bytes.
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Unsent bytes past which a fan-out server waits before the next burst: the mark at which a
 * sockframe send() returns false, used for the hand-written server too.
 */
export const FANOUT_PENDING_MARK = 256 * 1024;

const FANOUT_SKIPPED = 'fan-out is measured for sockframe and the baseline only';
const NO_FANOUT: Partial<Record<WorkloadId, string>> = {
  'fanout-broadcast': FANOUT_SKIPPED,
  'fanout-each': FANOUT_SKIPPED,
};

export interface Contender {
  readonly name: string;
  readonly description: string;
  /** Workloads it cannot run, each with the reason shown in the table. */
  readonly unsupported: Partial<Record<WorkloadId, string>>;
  /** File descriptors one client connection takes in the client process. */
  readonly fdsPerClient: number;
  payload(size: number): Message;
  serve(options: ServeOptions): Promise<ServerHandle>;
  /** A client; `oneWay` when it only sends (zeromq then uses a PUSH socket). */
  connect(port: number, onMessage: (message: Message) => void, oneWay?: boolean): Promise<ClientHandle>;
  /** A fan-out server expecting `connections` connections; absent where fan-out is not measured. */
  fanout?(connections: number): Promise<FanoutServer>;
}

// ------------------------------------------------------------------------ payloads

export function bytePayload(size: number): Buffer {
  const payload = Buffer.alloc(size, 0x11);
  if (size > 0) {
    payload[0] = FIRST;
    payload[size - 1] = LAST;
  }
  return payload;
}

function textPayload(size: number): string {
  return size <= 1 ? 'E'.repeat(size) : `<${'x'.repeat(size - 2)}>`;
}

/** True when a received message is the one of `size` bytes that was sent, ends intact. */
export function isIntact(message: Message, size: number): boolean {
  if (message.length !== size) return false;
  if (size < 2) return true;
  return typeof message === 'string'
    ? message.charCodeAt(0) === 0x3c && message.charCodeAt(size - 1) === 0x3e
    : message[0] === FIRST && message[size - 1] === LAST;
}

// ------------------------------------------------------------------------ helpers

/**
 * How a contender's sockets are made: TCP here; TLS and Unix sockets in bench/transports.ts. A
 * server is named by a number clients dial: the port, or the number an IPC path is made from.
 */
export interface Wire {
  /** A server calling `onSocket` with each socket ready for data (TLS: after the handshake). */
  createServer(onSocket: (socket: Socket) => void): Server;
  /** Listens; resolves with the number clients dial. */
  listen(server: Server): Promise<number>;
  /** Connects; resolves once the socket is ready for data. */
  dial(port: number): Promise<Socket>;
}

function listenNet(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, backlog: 4096 }, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

function closeNet(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function connectNet(port: number): Promise<Socket> {
  const socket = connect(port, HOST);
  socket.setNoDelay(true);
  await once(socket, 'connect');
  return socket;
}

export const TCP_WIRE: Wire = {
  createServer: (onSocket) => createServer(onSocket),
  listen: listenNet,
  dial: connectNet,
};

/** Resolves on the next 'drain' or on the close, whichever comes first. */
export function drainOrClose(emitter: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      emitter.off('drain', done);
      emitter.off('close', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
  });
}

/** Resolves once this turn's process.nextTick flushes have run and I/O has had its turn. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function endSocket(socket: Socket): Promise<void> {
  if (socket.destroyed) return;
  const closed = once(socket, 'close');
  socket.end();
  await closed;
}

/** A net server that tracks its sockets; `attach` wires one accepted socket. */
export async function netServe(
  attach: (socket: Socket) => void,
  wire: Wire = TCP_WIRE,
): Promise<ServerHandle> {
  const sockets = new Set<Socket>();
  const server = wire.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    attach(socket);
  });
  server.maxConnections = 30_000;
  const port = await wire.listen(server);
  return { port, connections: () => sockets.size, close: () => closeNet(server, sockets) };
}

// ------------------------------------------------------------------------ contenders

/** The hand-written baseline over `wire`. */
export function baselineOn(
  wire: Wire,
  description = 'hand-written net: 4-byte length prefix, ~64 KiB batched writes, chunk-list parser',
): Contender {
  return {
    name: 'baseline',
    description,
    unsupported: {},
    fdsPerClient: 1,
    payload: bytePayload,
    serve: ({ echo, onMessage }) =>
      netServe((socket) => {
        // Created on the first byte, so an idle connection holds only its socket.
        let parser: BaselineParser | undefined;
        socket.on('data', (chunk: Buffer) => {
          if (parser === undefined) {
            const writer = echo ? new BaselineWriter(socket) : undefined;
            parser = new BaselineParser((message) => {
              onMessage?.(message);
              writer?.send(message);
            });
          }
          parser.push(chunk);
        });
      }, wire),
    async connect(port, onMessage) {
      const socket = await wire.dial(port);
      const writer = new BaselineWriter(socket);
      const parser = new BaselineParser(onMessage);
      socket.on('data', (chunk: Buffer) => parser.push(chunk));
      return {
        send: (message) => writer.send(message as Buffer),
        drained: () => once(socket, 'drain').then(() => undefined),
        close: () => {
          writer.flush();
          return endSocket(socket);
        },
      };
    },
    async fanout(connections) {
      const peers: { identity: number; socket: Socket; writer: BaselineWriter }[] = [];
      let resolveIdentified!: () => void;
      const identified = new Promise<void>((resolve) => (resolveIdentified = resolve));
      const handle = await netServe((socket) => {
        let greeted = false;
        const parser = new BaselineParser((message) => {
          if (greeted || message.length !== HELLO_SIZE) return;
          greeted = true;
          peers.push({ identity: message.readUInt32BE(0), socket, writer: new BaselineWriter(socket, true) });
          if (peers.length === connections) resolveIdentified();
        });
        socket.on('data', (chunk: Buffer) => parser.push(chunk));
      }, wire);
      return {
        port: handle.port,
        identified,
        broadcast(payload) {
          for (const peer of peers) if (!peer.socket.destroyed) peer.writer.send(payload);
        },
        sendEach(make) {
          for (const peer of peers) if (!peer.socket.destroyed) peer.writer.send(make(peer.identity));
        },
        async settle() {
          await nextTurn();
          const waits: Promise<void>[] = [];
          for (const { socket } of peers) {
            if (!socket.destroyed && socket.writableLength >= FANOUT_PENDING_MARK)
              waits.push(drainOrClose(socket));
          }
          await Promise.all(waits);
        },
        close: () => handle.close(),
      };
    },
  };
}

const baseline = baselineOn(TCP_WIRE);

const naive: Contender = {
  name: 'naive',
  description: 'hand-written net: one socket.write per message, Buffer.concat on every read',
  unsupported: NO_FANOUT,
  fdsPerClient: 1,
  payload: bytePayload,
  serve: ({ echo, onMessage }) =>
    netServe((socket) => {
      const parser = new NaiveParser((message) => {
        onMessage?.(message);
        if (echo) socket.write(naiveFrame(message));
      });
      socket.on('data', (chunk: Buffer) => parser.push(chunk));
    }),
  async connect(port, onMessage) {
    const socket = await connectNet(port);
    const parser = new NaiveParser(onMessage);
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    return {
      send: (message) => socket.write(naiveFrame(message as Buffer)),
      drained: () => once(socket, 'drain').then(() => undefined),
      close: () => endSocket(socket),
    };
  },
};

/** How the sockframe contender makes its servers and clients: TCP here; TLS and IPC in bench/transports.ts. */
export interface SockframeWire {
  description: string;
  /** A listening server with these options; resolves with it and the number clients dial. */
  listen(options: {
    maxMessageSize: number;
    maxConnections: number;
  }): Promise<{ server: StreamServer<unknown, unknown>; port: number }>;
  client(port: number, options: { maxMessageSize: number }): StreamClient;
}

const TCP_SOCKFRAME: SockframeWire = {
  description: 'TcpServer / TcpClient with the default framing (lengthField())',
  async listen(options) {
    const server = new TcpServer(options);
    const { port } = await server.listen({ port: 0, host: HOST, backlog: 4096 });
    return { server, port };
  },
  client: (port, options) => new TcpClient({ port, host: HOST, ...options }),
};

/** sockframe's servers and clients over `wire`, with the default framing and options. */
export function sockframeOn(wire: SockframeWire): Contender {
  return {
    name: 'sockframe',
    description: wire.description,
    unsupported: {},
    fdsPerClient: 1,
    payload: bytePayload,
    async serve({ echo, onMessage, maxMessageSize }) {
      const { server, port } = await wire.listen({
        maxMessageSize: maxMessageSize + 4,
        maxConnections: 30_000,
      });
      server.on('message', (conn, message) => {
        onMessage?.(message);
        if (echo) conn.send(message);
      });
      server.on('error', () => {});
      return {
        port,
        connections: () => server.connections.size,
        close: () => server.close({ timeout: 100 }),
      };
    },
    async connect(port, onMessage) {
      const client = wire.client(port, { maxMessageSize: 64 << 20 });
      client.on('message', onMessage);
      client.on('error', () => {});
      await client.connect();
      return {
        send: (message) => client.send(message),
        drained: () => once(client, 'drain').then(() => undefined),
        close: () => client.close(),
      };
    },
  };
}

const sockframe: Contender = {
  ...sockframeOn(TCP_SOCKFRAME),
  async fanout(connections) {
    // Each connection's data slot holds the identity from its greeting.
    const server = new TcpServer<number>({ maxConnections: 30_000 });
    let greeted = 0;
    let resolveIdentified!: () => void;
    const identified = new Promise<void>((resolve) => (resolveIdentified = resolve));
    server.on('message', (conn, message) => {
      if (conn.data !== undefined || message.length !== HELLO_SIZE) return;
      conn.data = message.readUInt32BE(0);
      if (++greeted === connections) resolveIdentified();
    });
    server.on('error', () => {});
    const { port } = await server.listen({ port: 0, host: HOST, backlog: 4096 });
    return {
      port,
      identified,
      broadcast(payload) {
        server.broadcast(payload);
      },
      sendEach(make) {
        for (const conn of server.connections.values()) {
          if (conn.isOpen) conn.send(make(conn.data as number));
        }
      },
      async settle() {
        await nextTurn();
        const waits: Promise<void>[] = [];
        for (const conn of server.connections.values()) {
          // Past the mark, send() has returned false, so 'drain' is sure to follow.
          if (conn.isOpen && conn.pendingBytes >= FANOUT_PENDING_MARK) waits.push(drainOrClose(conn));
        }
        await Promise.all(waits);
      },
      close: () => server.close({ timeout: 100 }),
    };
  },
};

/**
 * Subscribes a listener that does nothing to every sockframe channel and tracing channel of this
 * process, as a metrics or tracing setup would (once per process).
 */
let observing = false;
function observeEverything(): void {
  if (observing) return;
  observing = true;
  const ignore = (): void => {};
  for (const scope of ['server:listening', 'server:closed', 'server:drop', 'server:error']) {
    subscribe(`sockframe:${scope}`, ignore);
  }
  for (const scope of ['connection:open', 'connection:close', 'adapter:up', 'adapter:down']) {
    subscribe(`sockframe:${scope}`, ignore);
  }
  for (const scope of ['client:connect', 'client:close', 'client:reconnecting', 'client:error']) {
    subscribe(`sockframe:${scope}`, ignore);
  }
  for (const name of ['sockframe:rpc:call', 'sockframe:rpc:handle']) {
    tracingChannel(name).subscribe({
      start: ignore,
      end: ignore,
      asyncStart: ignore,
      asyncEnd: ignore,
      error: ignore,
    });
  }
}

/** sockframe with every diagnostics channel subscribed: what observing costs. */
const sockframeObserved: Contender = {
  ...sockframe,
  name: 'sockframe+observed',
  description: 'sockframe with a subscriber on every diagnostics_channel and tracing channel',
  unsupported: { ...sockframe.unsupported },
  serve(options) {
    observeEverything();
    return sockframe.serve(options);
  },
  connect(port, onMessage, oneWay) {
    observeEverything();
    return sockframe.connect(port, onMessage, oneWay);
  },
  fanout(connections) {
    observeEverything();
    return (sockframe.fanout as NonNullable<Contender['fanout']>)(connections);
  },
};

/** frame-stream and length-prefixed-stream: a decode and an encode Transform around a socket. */
export function streamPair(
  name: string,
  description: string,
  makeDecoder: (maxMessageSize: number) => Transform,
  makeEncoder: () => Transform,
  wire: Wire = TCP_WIRE,
): Contender {
  return {
    name,
    description,
    unsupported: NO_FANOUT,
    fdsPerClient: 1,
    payload: bytePayload,
    serve: ({ echo, onMessage, maxMessageSize }) =>
      netServe((socket) => {
        const decoder = makeDecoder(maxMessageSize);
        decoder.on('error', () => socket.destroy());
        socket.pipe(decoder);
        const encoder = echo ? makeEncoder() : undefined;
        encoder?.pipe(socket);
        decoder.on('data', (message: Buffer) => {
          onMessage?.(message);
          encoder?.write(message);
        });
      }, wire),
    async connect(port, onMessage) {
      const socket = await wire.dial(port);
      const decoder = makeDecoder(64 << 20);
      const encoder = makeEncoder();
      socket.pipe(decoder);
      encoder.pipe(socket);
      decoder.on('data', onMessage);
      return {
        send: (message) => encoder.write(message),
        drained: () => once(encoder, 'drain').then(() => undefined),
        close: async () => {
          const closed = once(socket, 'close');
          encoder.end();
          await closed;
        },
      };
    },
  };
}

// Loaded lazily: each worker process loads only its own contender's package.
/* eslint-disable @typescript-eslint/no-require-imports */
/** frame-stream's Transforms around the sockets of `wire`. */
export const frameStreamOn = (wire: Wire): Contender =>
  streamPair(
    'frame-stream',
    'frame-stream 4: encode()/decode() Transforms, 4-byte length prefix',
    (maxSize) => (require('frame-stream') as typeof import('frame-stream')).decode({ maxSize }),
    () => (require('frame-stream') as typeof import('frame-stream')).encode(),
    wire,
  );

/** length-prefixed-stream's Transforms around the sockets of `wire`. */
export const lengthPrefixedStreamOn = (wire: Wire): Contender =>
  streamPair(
    'length-prefixed-stream',
    'length-prefixed-stream 2: encode()/decode() Transforms, varint length prefix',
    (limit) =>
      (require('length-prefixed-stream') as typeof import('length-prefixed-stream')).decode({ limit }),
    () => (require('length-prefixed-stream') as typeof import('length-prefixed-stream')).encode(),
    wire,
  );

const frameStream = frameStreamOn(TCP_WIRE);
const lengthPrefixedStream = lengthPrefixedStreamOn(TCP_WIRE);

type IpcModule = import('@achrinza/node-ipc').IPCModule;

function newIpc(): IpcModule {
  const { IPCModule } = require('@achrinza/node-ipc') as typeof import('@achrinza/node-ipc');
  const ipc = new IPCModule();
  ipc.config.silent = true;
  ipc.config.maxConnections = 30_000;
  ipc.config.stopRetrying = true;
  ipc.config.networkHost = HOST;
  // Otherwise start() first deletes a file named after the host, as if it were a socket path.
  ipc.config.unlink = false;
  return ipc;
}

/** node-ipc cannot listen on port 0 (it takes 0 as "no port"): borrow a free port first. */
async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listenNet(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

let ipcClientIpc: IpcModule | undefined;
let ipcClientSeq = 0;

/**
 * Where the IPC variants of the peers listen (bench/transports.ts): a server takes a fresh
 * number and listens on the path made from it; clients dial the number, as a port.
 */
export interface IpcNaming {
  fresh(): number;
  path(n: number): string;
}

/** node-ipc over TCP, or over Unix sockets named by `ipcPaths`. */
export function nodeIpcOn(ipcPaths?: IpcNaming): Contender {
  return {
    name: 'node-ipc',
    description: `@achrinza/node-ipc 10 over ${ipcPaths === undefined ? 'TCP' : 'a Unix socket'}: JSON events delimited by \\f, text payloads`,
    unsupported: NO_FANOUT,
    fdsPerClient: 1,
    payload: textPayload,
    async serve({ echo, onMessage }) {
      const ipc = newIpc();
      const port = ipcPaths === undefined ? await freePort() : ipcPaths.fresh();
      await new Promise<void>((resolve) => {
        if (ipcPaths === undefined) ipc.serveNet(HOST, port, () => resolve());
        else ipc.serve(ipcPaths.path(port), () => resolve());
        ipc.server.start();
      });
      let open = 0;
      ipc.server.on('connect', (socket) => {
        open++;
        if (ipcPaths === undefined) socket.setNoDelay(true);
        socket.once('close', () => open--);
      });
      ipc.server.on('error', () => {});
      ipc.server.on('message', (data, socket) => {
        onMessage?.(data);
        if (echo) ipc.server.emit(socket, 'message', data);
      });
      return {
        port,
        connections: () => open,
        close: () => {
          for (const socket of ipc.server.sockets) socket.destroy();
          return new Promise<void>((resolve) => ipc.server.server.close(() => resolve()));
        },
      };
    },
    async connect(port, onMessage) {
      const ipc = (ipcClientIpc ??= newIpc());
      const id = `bench-${process.pid}-${++ipcClientSeq}`;
      await new Promise<void>((resolve, reject) => {
        if (ipcPaths === undefined) ipc.connectToNet(id, HOST, port);
        else ipc.connectTo(id, ipcPaths.path(port));
        const client = ipc.of[id];
        if (client === undefined) throw new Error('node-ipc did not create the client');
        client.on('connect', () => resolve());
        client.on('error', reject);
        client.on('message', onMessage);
      });
      const client = ipc.of[id];
      if (client === undefined) throw new Error('node-ipc lost the client');
      const socket = client.socket;
      if (ipcPaths === undefined) socket.setNoDelay(true);
      return {
        send: (message) => {
          client.emit('message', message as string);
          return !socket.writableNeedDrain;
        },
        drained: () => once(socket, 'drain').then(() => undefined),
        close: async () => {
          // node-ipc's disconnect() destroys the socket at once; end it first so queued bytes leave.
          await endSocket(socket);
          ipc.disconnect(id);
        },
      };
    },
  };
}

const nodeIpc = nodeIpcOn();

type Zmq = typeof import('zeromq');
let zmqModule: Zmq | undefined;
function zmq(): Zmq {
  if (zmqModule === undefined) {
    zmqModule = require('zeromq') as Zmq;
    zmqModule.context.maxSockets = zmqModule.context.maxSocketsLimit;
  }
  return zmqModule;
}

function zmqPort(endpoint: string | null): number {
  return Number(endpoint?.slice(endpoint.lastIndexOf(':') + 1));
}

/** zeromq over tcp://, or over ipc:// paths named by `ipcPaths`. */
export function zeromqOn(ipcPaths?: IpcNaming): Contender {
  const where = (port: number): string =>
    ipcPaths === undefined ? `tcp://${HOST}:${port}` : `ipc://${ipcPaths.path(port)}`;
  return {
    name: 'zeromq',
    description: `zeromq 6 (libzmq, prebuilt in the npm package) over ${ipcPaths === undefined ? 'tcp://' : 'ipc://'}: PUSH/PULL floods, DEALER/ROUTER echo and JSON-RPC (a DEALER per client, correlated by the JSON-RPC ids)`,
    unsupported: NO_FANOUT,
    // The TCP socket, plus the mailbox each libzmq socket has.
    fdsPerClient: 3,
    payload: bytePayload,
    async serve({ echo, onMessage }) {
      const z = zmq();
      const socket = echo ? new z.Router({ linger: 0 }) : new z.Pull({ linger: 0 });
      let open = 0;
      socket.events.on('accept', () => open++);
      socket.events.on('disconnect', () => open--);
      const fresh = ipcPaths?.fresh();
      await socket.bind(fresh === undefined ? `tcp://${HOST}:*` : where(fresh));
      const port = fresh ?? zmqPort(socket.lastEndpoint);
      void (async () => {
        try {
          if (socket instanceof z.Router) {
            for await (const [peer, message] of socket) {
              onMessage?.(message as Buffer);
              await socket.send([peer as Buffer, message as Buffer]);
            }
          } else {
            for await (const [message] of socket) onMessage?.(message as Buffer);
          }
        } catch {
          // The socket was closed.
        }
      })();
      return {
        port,
        connections: () => open,
        close: () => {
          socket.close();
          return Promise.resolve();
        },
      };
    },
    connect(port, onMessage, oneWay = false) {
      const z = zmq();
      // Queued messages still leave after close(), for up to the linger time.
      const socket = oneWay ? new z.Push({ linger: 10_000 }) : new z.Dealer({ linger: 0 });
      socket.connect(where(port));
      if (socket instanceof z.Dealer) {
        void (async () => {
          try {
            for await (const [message] of socket) onMessage(message as Buffer);
          } catch {
            // The socket was closed.
          }
        })();
      }
      return Promise.resolve({
        send: (message: Message) => socket.send(message),
        drained: () => Promise.resolve(),
        close: () => {
          socket.close();
          return Promise.resolve();
        },
      });
    },
  };
}

const zeromq = zeromqOn();
/* eslint-enable @typescript-eslint/no-require-imports */

export const CONTENDERS: readonly Contender[] = [
  baseline,
  naive,
  sockframe,
  sockframeObserved,
  frameStream,
  lengthPrefixedStream,
  nodeIpc,
  zeromq,
];

/** The reference for idle memory: a net server that holds its sockets and does nothing else. */
export const BARE_NET: Contender = {
  name: 'bare net',
  description: 'net.createServer holding the sockets, no framing',
  unsupported: {},
  fdsPerClient: 1,
  payload: bytePayload,
  serve: () => netServe(() => {}),
  async connect(port) {
    const socket = await connectNet(port);
    return {
      send: (message) => socket.write(message),
      drained: () => once(socket, 'drain').then(() => undefined),
      close: () => endSocket(socket),
    };
  },
};

export function contenderNamed(name: string): Contender {
  const found = [...CONTENDERS, BARE_NET].find((c) => c.name === name);
  if (found === undefined) throw new Error(`unknown contender ${name}`);
  return found;
}
