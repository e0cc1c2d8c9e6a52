/**
 * A Prometheus endpoint fed from sockframe's `stats` and its diagnostics channels, with traffic of
 * its own (a JSON-RPC client calling a TCP server, a UDP echo) so that the counters move.
 *
 *   npm run example:metrics          then open the address it prints, or curl it
 *
 * `stats` is read on each scrape (nothing is paid per message); the channels count connections,
 * and the `sockframe:rpc:handle` tracing channel times each JSON-RPC handler.
 */
import { subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  jsonRpc,
  RpcError,
  TcpClient,
  TcpServer,
  UdpClient,
  UdpServer,
  type ClientStats,
  type CloseReason,
  type RpcTraceContext,
  type ServerStats,
} from 'sockframe';

export interface MetricsExample {
  /** Where the metrics are: `http://127.0.0.1:${metricsPort}/metrics`. */
  readonly metricsPort: number;
  readonly registry: Registry;
  /** One round of traffic: RPC calls (one of them failing) and UDP datagrams. */
  traffic(): Promise<void>;
  stop(): Promise<void>;
}

interface ServerApi {
  add(p: { a: number; b: number }): number;
  sleep(p: { ms: number }): string;
  refuse(): never;
}

/** A counter whose value is a running total read from `stats` on each scrape. */
function totalCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => { labels: Record<string, string>; value: number }[],
): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of read()) this.inc(labels, value);
    },
  });
}

/**
 * Starts the servers, a client of each, and the metrics endpoint (on `metricsPort`, 0 for a free
 * one). With `interval`, a round of traffic runs every `interval` ms until stop().
 */
export async function startMetricsExample(
  options: { metricsPort?: number; interval?: number } = {},
): Promise<MetricsExample> {
  const registry = new Registry();

  // ---------------------------------------------------------------- from the channels (subscribed first, so the first connections count)
  const opened = new Counter({
    name: 'sockframe_connections_opened_total',
    help: 'Connections opened (UDP: peers admitted), from sockframe:connection:open',
    registers: [registry],
  });
  const closed = new Counter({
    name: 'sockframe_connections_closed_total',
    help: 'Connections closed, by kind of reason, from sockframe:connection:close',
    labelNames: ['kind'],
    registers: [registry],
  });
  const onOpen = (): void => opened.inc();
  const onClose = (message: unknown): void =>
    closed.inc({ kind: (message as { reason: CloseReason }).reason.kind });
  subscribe('sockframe:connection:open', onOpen);
  subscribe('sockframe:connection:close', onClose);

  const calls = new Counter({
    name: 'sockframe_rpc_handled_total',
    help: 'JSON-RPC requests handled, by method and outcome, from tracing:sockframe:rpc:handle',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'sockframe_rpc_handle_seconds',
    help: 'Time in JSON-RPC handlers, by method',
    labelNames: ['method'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const started = new WeakMap<RpcTraceContext, bigint>();
  const finish = (context: RpcTraceContext): void => {
    const begun = started.get(context);
    if (begun === undefined || context.id === undefined) return; // notifications are not counted
    started.delete(context);
    duration.observe({ method: context.method }, Number(process.hrtime.bigint() - begun) / 1e9);
    calls.inc({ method: context.method, outcome: 'error' in context ? 'error' : 'ok' });
  };
  const handle = tracingChannel<unknown, RpcTraceContext>('sockframe:rpc:handle');
  const handleSubscribers = {
    start: (context: RpcTraceContext) => void started.set(context, process.hrtime.bigint()),
    // A synchronous handler is done at end (its result or error is set by then); an async one
    // at asyncEnd.
    end: (context: RpcTraceContext) => {
      if ('result' in context || 'error' in context) finish(context);
    },
    asyncStart: () => {},
    asyncEnd: finish,
    error: () => {},
  };
  handle.subscribe(handleSubscribers);

  // ---------------------------------------------------------------- the traffic
  const server = new TcpServer({ rpc: jsonRpc<ServerApi>() });
  server.handle('add', ({ a, b }) => a + b);
  server.handle('sleep', async ({ ms }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return `slept ${ms} ms`;
  });
  server.handle('refuse', () => {
    throw new RpcError(-32000, 'refused on purpose');
  });
  server.on('error', () => {}); // counted from stats.errors
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = new TcpClient<unknown, ServerApi>({ port, host: '127.0.0.1', rpc: jsonRpc() });
  client.on('error', () => {});
  await client.connect();

  const udp = new UdpServer({ type: 'udp4' });
  udp.on('message', (peer, message) => peer.send(message));
  udp.on('error', () => {});
  const udpAddress = await udp.listen({ port: 0, host: '127.0.0.1' });
  const udpClient = new UdpClient({ type: 'udp4', host: '127.0.0.1', port: udpAddress.port });
  udpClient.on('error', () => {});
  await udpClient.connect();

  // ---------------------------------------------------------------- from stats, read per scrape
  const servers: [string, { readonly stats: ServerStats }][] = [
    ['tcp', server],
    ['udp', udp],
  ];
  const clients: [string, { readonly stats: ClientStats }][] = [
    ['tcp', client],
    ['udp', udpClient],
  ];
  const perServer = (pick: (s: ServerStats) => number) => () =>
    servers.map(([transport, s]) => ({ labels: { transport }, value: pick(s.stats) }));
  const perClient = (pick: (s: ClientStats) => number) => () =>
    clients.map(([transport, c]) => ({ labels: { transport }, value: pick(c.stats) }));
  const t = ['transport'];
  const gauges: [string, string, () => { labels: Record<string, string>; value: number }[]][] = [
    ['sockframe_server_connections', 'Open connections (UDP: peers)', perServer((s) => s.connections)],
    ['sockframe_server_pending_bytes', 'Bytes queued and not yet written', perServer((s) => s.pendingBytes)],
    [
      'sockframe_client_connected',
      '1 while the client is connected',
      perClient((s) => (s.connected ? 1 : 0)),
    ],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      labelNames: t,
      registers: [registry],
      collect() {
        for (const { labels, value } of read()) this.set(labels, value);
      },
    });
  }
  const serverTotals: [string, string, (s: ServerStats) => number][] = [
    ['bytes_in', 'Bytes read', (s) => s.bytesIn],
    ['bytes_out', 'Bytes sent', (s) => s.bytesOut],
    ['messages_in', 'Messages received', (s) => s.messagesIn],
    ['messages_out', 'Messages sent', (s) => s.messagesOut],
  ];
  for (const [name, help, pick] of serverTotals) {
    totalCounter(registry, `sockframe_server_${name}_total`, help, t, perServer(pick));
  }
  const clientTotals: [string, string, (s: ClientStats) => number][] = [
    ['messages_out', 'Messages the clients sent', (s) => s.messagesOut],
    ['messages_in', 'Messages the clients received', (s) => s.messagesIn],
    ['reconnect_attempts', 'Reconnect attempts', (s) => s.reconnectAttempts],
  ];
  for (const [name, help, pick] of clientTotals) {
    totalCounter(registry, `sockframe_client_${name}_total`, help, t, perClient(pick));
  }
  totalCounter(
    registry,
    'sockframe_server_errors_total',
    "Faults on the servers' 'error' event, by code",
    ['transport', 'code'],
    () =>
      servers.flatMap(([transport, s]) =>
        Object.entries(s.stats.errors).map(([code, value]) => ({ labels: { transport, code }, value })),
      ),
  );

  // ---------------------------------------------------------------- the endpoint
  const http: Server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (err: unknown) => response.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => http.listen(options.metricsPort ?? 0, '127.0.0.1', resolve));
  const metricsPort = (http.address() as AddressInfo).port;

  const traffic = async (): Promise<void> => {
    await Promise.all([
      client.call('add', { a: 2, b: 3 }),
      client.call('sleep', { ms: 5 }),
      client.call('refuse').catch(() => undefined), // an error response, counted as such
    ]);
    const echoed = new Promise((resolve) => udpClient.once('message', resolve));
    udpClient.send('ping');
    await echoed;
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.interval !== undefined) {
    const every = options.interval;
    timer = setInterval(() => void traffic().catch(() => undefined), every);
  }

  return {
    metricsPort,
    registry,
    traffic,
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await Promise.all([client.close(), udpClient.close()]);
      await Promise.all([server.close(), udp.close()]);
      handle.unsubscribe(handleSubscribers);
      unsubscribe('sockframe:connection:open', onOpen);
      unsubscribe('sockframe:connection:close', onClose);
    },
  };
}

async function main(): Promise<void> {
  const port = process.env.METRICS_PORT === undefined ? 0 : Number(process.env.METRICS_PORT);
  const example = await startMetricsExample({ metricsPort: port, interval: 500 });
  console.log(`metrics on http://127.0.0.1:${example.metricsPort}/metrics (Ctrl-C stops)`);
  process.once('SIGINT', () => {
    void example.stop().then(() => console.log('stopped'));
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
