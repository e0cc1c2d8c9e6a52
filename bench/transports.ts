/**
 * The suite's contenders over TLS and over Unix sockets (IPC), each against a hand-written
 * baseline on the same transport: the same contender code as over TCP (bench/contenders.ts), given
 * another Wire. A TLS server uses the test-only localhost certificate in __tests__/fixtures; an
 * IPC server listens on a socket file in the temp directory named by a number, which clients dial
 * as they would a port.
 */
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import { createServer as netServer } from 'node:net';
import { IpcClient, IpcServer, TlsClient, TlsServer } from 'sockframe';
import {
  baselineOn,
  frameStreamOn,
  HOST,
  lengthPrefixedStreamOn,
  nodeIpcOn,
  sockframeOn,
  zeromqOn,
  type Contender,
  type IpcNaming,
  type Wire,
} from './contenders';

export type Transport = 'tls' | 'ipc';

const FIXTURES = join(__dirname, '..', '..', '__tests__', 'fixtures');
let credentials: { cert: Buffer; key: Buffer } | undefined;
function tlsCredentials(): { cert: Buffer; key: Buffer } {
  return (credentials ??= {
    cert: readFileSync(join(FIXTURES, 'test-only-localhost.cert.pem')),
    key: readFileSync(join(FIXTURES, 'test-only-localhost.key.pem')),
  });
}

function portOf(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

const TLS_WIRE: Wire = {
  createServer: (onSocket) => tlsServer(tlsCredentials(), onSocket),
  listen: (server) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: HOST, backlog: 4096 }, () => resolve(portOf(server)));
    }),
  async dial(port) {
    const socket = tlsConnect({ port, host: HOST, ca: tlsCredentials().cert, servername: 'localhost' });
    socket.setNoDelay(true);
    await once(socket, 'secureConnect');
    return socket;
  },
};

let ipcSeq = 0;
/** Socket files of this process's servers, removed at exit. */
const ipcFiles = new Set<string>();
process.once('exit', () => {
  for (const path of ipcFiles) rmSync(path, { force: true });
});

export const IPC_PATHS: IpcNaming = {
  fresh() {
    const n = (process.pid % 100_000) * 100 + (++ipcSeq % 100);
    const path = this.path(n);
    // A file left by an earlier process with this pid.
    rmSync(path, { force: true });
    ipcFiles.add(path);
    return n;
  },
  path: (n) => join(tmpdir(), `sockframe-bench-${n}.sock`),
};

const IPC_WIRE: Wire = {
  createServer: (onSocket) => netServer(onSocket),
  listen: (server) =>
    new Promise((resolve, reject) => {
      const n = IPC_PATHS.fresh();
      server.once('error', reject);
      server.listen({ path: IPC_PATHS.path(n), backlog: 4096 }, () => resolve(n));
    }),
  async dial(n) {
    const socket: Socket = netConnect({ path: IPC_PATHS.path(n) });
    await once(socket, 'connect');
    return socket;
  },
};

const TLS_CONTENDERS: readonly Contender[] = [
  baselineOn(TLS_WIRE, 'hand-written node:tls: the TCP baseline on a TLSSocket'),
  sockframeOn({
    description: 'TlsServer / TlsClient with the default framing',
    async listen(options) {
      const server = new TlsServer({ ...options, ...tlsCredentials() });
      const { port } = await server.listen({ port: 0, host: HOST, backlog: 4096 });
      return { server, port };
    },
    client: (port, options) =>
      new TlsClient({ port, host: HOST, ca: tlsCredentials().cert, servername: 'localhost', ...options }),
  }),
  frameStreamOn(TLS_WIRE),
  lengthPrefixedStreamOn(TLS_WIRE),
];

const IPC_CONTENDERS: readonly Contender[] = [
  baselineOn(IPC_WIRE, 'hand-written net on a socket path: the TCP baseline on a Unix socket'),
  sockframeOn({
    description: 'IpcServer / IpcClient with the default framing',
    async listen(options) {
      const server = new IpcServer(options);
      const n = IPC_PATHS.fresh();
      await server.listen({ path: IPC_PATHS.path(n), backlog: 4096 });
      return { server, port: n };
    },
    client: (n, options) => new IpcClient({ path: IPC_PATHS.path(n), ...options }),
  }),
  frameStreamOn(IPC_WIRE),
  lengthPrefixedStreamOn(IPC_WIRE),
  nodeIpcOn(IPC_PATHS),
  zeromqOn(IPC_PATHS),
];

const BY_TRANSPORT: Record<Transport, readonly Contender[]> = { tls: TLS_CONTENDERS, ipc: IPC_CONTENDERS };

/** The contender of this name over `transport`, or undefined where it has none. */
export function transportContender(transport: Transport, name: string): Contender | undefined {
  return BY_TRANSPORT[transport].find((c) => c.name === name);
}

/** Why a contender has no row over `transport`, or undefined when it has one. */
export function missingOver(transport: Transport, name: string): string | undefined {
  if (transportContender(transport, name) !== undefined) return undefined;
  return transport === 'tls'
    ? `no TLS variant measured (${name === 'zeromq' ? 'zeromq has CURVE, not TLS' : 'not wired for TLS here'})`
    : 'no Unix-socket variant measured';
}
