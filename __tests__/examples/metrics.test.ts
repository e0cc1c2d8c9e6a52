/** examples/metrics.ts: scrape its Prometheus endpoint over HTTP; the counters move with traffic. */
import { get } from 'node:http';
import { startMetricsExample, type MetricsExample } from '../../examples/metrics';

let example: MetricsExample | undefined;
afterEach(async () => {
  await example?.stop();
  example = undefined;
});

function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }),
      );
    }).on('error', reject);
  });
}

/** The value of one sample, `name{labels}`, from the text format; undefined when absent. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      found[m[1] as string] = m[2] as string;
    }
    const wanted = Object.entries(labels);
    if (wanted.length !== Object.keys(found).length) continue;
    if (wanted.every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

test('the endpoint serves the text format, and its counters follow the traffic exactly', async () => {
  example = await startMetricsExample();
  const first = await scrape(example.metricsPort);
  expect(first.status).toBe(200);
  expect(first.type).toContain('text/plain');
  const tcp = { transport: 'tcp' };
  const udp = { transport: 'udp' };
  // Connected, no traffic yet: the RPC client's connection is the only one.
  expect(sample(first.body, 'sockframe_server_connections', tcp)).toBe(1);
  expect(sample(first.body, 'sockframe_server_connections', udp)).toBe(0);
  expect(sample(first.body, 'sockframe_client_connected', tcp)).toBe(1);
  expect(sample(first.body, 'sockframe_server_messages_in_total', tcp)).toBe(0);
  expect(sample(first.body, 'sockframe_connections_opened_total')).toBe(1);

  const rounds = 4;
  for (let i = 0; i < rounds; i++) await example.traffic();
  const second = await scrape(example.metricsPort);
  // Each round: three calls in, three responses out; one datagram each way.
  expect(sample(second.body, 'sockframe_server_messages_in_total', tcp)).toBe(3 * rounds);
  expect(sample(second.body, 'sockframe_server_messages_out_total', tcp)).toBe(3 * rounds);
  expect(sample(second.body, 'sockframe_client_messages_out_total', tcp)).toBe(3 * rounds);
  expect(sample(second.body, 'sockframe_client_messages_in_total', tcp)).toBe(3 * rounds);
  expect(sample(second.body, 'sockframe_server_messages_in_total', udp)).toBe(rounds);
  expect(sample(second.body, 'sockframe_server_bytes_in_total', udp)).toBe(4 * rounds);
  expect(sample(second.body, 'sockframe_server_connections', udp)).toBe(1);
  expect(sample(second.body, 'sockframe_connections_opened_total')).toBe(2); // the UDP peer
  expect(sample(second.body, 'sockframe_server_bytes_in_total', tcp)).toBeGreaterThan(
    sample(first.body, 'sockframe_server_bytes_in_total', tcp) as number,
  );
  // From the tracing channel: per method and outcome, and the handlers' time.
  expect(sample(second.body, 'sockframe_rpc_handled_total', { method: 'add', outcome: 'ok' })).toBe(rounds);
  expect(sample(second.body, 'sockframe_rpc_handled_total', { method: 'sleep', outcome: 'ok' })).toBe(rounds);
  expect(sample(second.body, 'sockframe_rpc_handled_total', { method: 'refuse', outcome: 'error' })).toBe(
    rounds,
  );
  expect(sample(second.body, 'sockframe_rpc_handle_seconds_count', { method: 'sleep' })).toBe(rounds);
  expect(sample(second.body, 'sockframe_rpc_handle_seconds_sum', { method: 'sleep' })).toBeGreaterThanOrEqual(
    0.004 * rounds,
  );
  expect(
    sample(second.body, 'sockframe_server_errors_total', { transport: 'tcp', code: 'ERR_FRAME_TOO_LARGE' }),
  ).toBe(undefined);

  await example.traffic();
  const third = await scrape(example.metricsPort);
  expect(sample(third.body, 'sockframe_server_messages_in_total', tcp)).toBe(3 * (rounds + 1));
  expect(sample(third.body, 'sockframe_rpc_handled_total', { method: 'add', outcome: 'ok' })).toBe(
    rounds + 1,
  );
  expect((await scrape(example.metricsPort, '/')).status).toBe(404);
});

test('with an interval, the example runs traffic by itself', async () => {
  example = await startMetricsExample({ interval: 20 });
  const port = example.metricsPort;
  const deadline = Date.now() + 10_000;
  let handled = 0;
  while (Date.now() < deadline && handled < 3) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    handled =
      sample((await scrape(port)).body, 'sockframe_rpc_handled_total', { method: 'add', outcome: 'ok' }) ?? 0;
  }
  expect(handled).toBeGreaterThanOrEqual(3);
});
