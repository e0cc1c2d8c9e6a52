/**
 * The README's OpenTelemetry recipe, run as written (the code block is read from README.md and
 * compiled here), against a TracerProvider of the test's own that records spans.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import ts from 'typescript';
import { jsonRpc, RpcError, TcpClient, TcpServer } from 'sockframe';
import { Resources } from '../helpers/net';

const resources = new Resources();
afterEach(() => resources.closeAll());

/** The recipe's code block, compiled to CommonJS and evaluated with this file's require. */
function loadRecipe(): {
  traceJsonRpc: (tracer?: Tracer) => () => void;
  rpcContext: AsyncLocalStorage<Context>;
} {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const marker = '<!-- tested by __tests__/rpc/otel-recipe.test.ts, which runs this block -->';
  const at = readme.indexOf(marker);
  expect(at).toBeGreaterThan(0);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))?.[1] as string;
  const { outputText } = ts.transpileModule(block, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  const module = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the README's code, compiled above
  const run = new Function('require', 'module', 'exports', outputText) as (...args: unknown[]) => void;
  run(require, module, module.exports);
  return module.exports as ReturnType<typeof loadRecipe>;
}

interface Recorded {
  name: string;
  kind: SpanKind | undefined;
  attributes: Attributes;
  status: SpanStatus;
  context: SpanContext;
  parentSpanId: string | undefined;
  exceptions: unknown[];
  ended: number;
}

class RecordingSpan implements Span {
  constructor(readonly record: Recorded) {}
  spanContext(): SpanContext {
    return this.record.context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.record.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.record.status = status;
    return this;
  }
  updateName(name: string): this {
    this.record.name = name;
    return this;
  }
  end(): void {
    this.record.ended++;
  }
  isRecording(): boolean {
    return this.record.ended === 0;
  }
  recordException(exception: unknown): void {
    this.record.exceptions.push(exception);
  }
}

/** Records every span; a span's parent is the span in the context it was started in. */
function recordingProvider(): { provider: TracerProvider; spans: Recorded[] } {
  const spans: Recorded[] = [];
  const tracer = {
    startSpan(name: string, options: SpanOptions = {}, parentContext: Context = context.active()): Span {
      const parent = trace.getSpanContext(parentContext);
      const record: Recorded = {
        name,
        kind: options.kind,
        attributes: { ...options.attributes },
        status: { code: SpanStatusCode.UNSET },
        context: {
          traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
          spanId: randomBytes(8).toString('hex'),
          traceFlags: 1,
        },
        parentSpanId: parent?.spanId,
        exceptions: [],
        ended: 0,
      };
      spans.push(record);
      return new RecordingSpan(record);
    },
    startActiveSpan(): never {
      throw new Error('the recipe does not use startActiveSpan');
    },
  } as Tracer;
  return { provider: { getTracer: () => tracer }, spans };
}

test('the recipe makes CLIENT and SERVER spans with names, attributes, status and nesting', async () => {
  const { provider, spans } = recordingProvider();
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  resources.add(trace, (t) => t.disable());
  const { traceJsonRpc, rpcContext } = loadRecipe();
  resources.add(traceJsonRpc(), (stop) => stop());

  // Server B answers 'inner'; server A answers the client, and calls B from its 'outer' handler.
  const b = resources.add(new TcpServer({ rpc: jsonRpc() }), (s) => s.close({ timeout: 500 }));
  b.handle('inner', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    return 'from b';
  });
  const bAddress = await b.listen({ port: 0, host: '127.0.0.1' });
  const toB = resources.add(new TcpClient({ port: bAddress.port, host: '127.0.0.1', rpc: jsonRpc() }), (c) =>
    c.close({ timeout: 500 }),
  );
  await toB.connect();
  const a = resources.add(new TcpServer({ rpc: jsonRpc() }), (s) => s.close({ timeout: 500 }));
  a.on('error', () => {});
  a.handle('add', (p) => (p as { a: number; b: number }).a + (p as { a: number; b: number }).b);
  a.handle('refuse', () => {
    throw new RpcError(-32042, 'refused', { why: 'test' });
  });
  a.handle('outer', async () => {
    const work = trace.getTracer('app').startSpan('work', {}, rpcContext.getStore());
    const answer = await toB.call('inner');
    work.end();
    return `outer got ${String(answer)}`;
  });
  const aAddress = await a.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(
    new TcpClient({ port: aAddress.port, host: '127.0.0.1', rpc: jsonRpc() }),
    (c) => c.close({ timeout: 500 }),
  );
  await client.connect();
  const clientPort = client.connection?.localPort;

  await expect(client.call('add', { a: 1, b: 2 })).resolves.toBe(3);
  await expect(client.call('refuse')).rejects.toMatchObject({ rpcCode: -32042 });
  // The caller's own span, as a context manager would make it active, is the call's parent.
  const request = trace.getTracer('app').startSpan('request');
  const outer = await rpcContext.run(trace.setSpan(ROOT_CONTEXT, request), () => client.call('outer'));
  request.end();
  expect(outer).toBe('outer got from b');

  const find = (name: string, kind?: SpanKind): Recorded => {
    const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
    expect(found).toHaveLength(1);
    return found[0] as Recorded;
  };
  expect(spans.map((s) => `${s.name}/${s.kind ?? '-'}`).sort()).toEqual(
    [
      `add/${SpanKind.CLIENT}`,
      `add/${SpanKind.SERVER}`,
      `refuse/${SpanKind.CLIENT}`,
      `refuse/${SpanKind.SERVER}`,
      'request/-',
      `outer/${SpanKind.CLIENT}`,
      `outer/${SpanKind.SERVER}`,
      'work/-',
      `inner/${SpanKind.CLIENT}`,
      `inner/${SpanKind.SERVER}`,
    ].sort(),
  );
  expect(spans.every((s) => s.ended === 1)).toBe(true);

  const addCall = find('add', SpanKind.CLIENT);
  expect(addCall.attributes).toEqual({
    'rpc.system': 'jsonrpc',
    'rpc.method': 'add',
    'rpc.jsonrpc.version': '2.0',
    'rpc.jsonrpc.request_id': '1',
    'network.peer.address': '127.0.0.1',
    'network.peer.port': aAddress.port,
  });
  expect(addCall.status).toEqual({ code: SpanStatusCode.UNSET });
  expect(addCall.parentSpanId).toBeUndefined();
  const addHandled = find('add', SpanKind.SERVER);
  expect(addHandled.attributes).toMatchObject({
    'rpc.method': 'add',
    'rpc.jsonrpc.request_id': '1',
    'network.peer.port': clientPort,
  });
  expect(addHandled.status.code).toBe(SpanStatusCode.UNSET);

  // Failures: ERROR on both sides, with the JSON-RPC error code.
  const refuseCall = find('refuse', SpanKind.CLIENT);
  expect(refuseCall.status).toEqual({ code: SpanStatusCode.ERROR, message: 'refused' });
  expect(refuseCall.attributes['rpc.jsonrpc.error_code']).toBe(-32042);
  expect(refuseCall.exceptions).toHaveLength(1);
  const refuseHandled = find('refuse', SpanKind.SERVER);
  expect(refuseHandled.status).toEqual({ code: SpanStatusCode.ERROR, message: 'refused' });
  expect(refuseHandled.attributes['rpc.jsonrpc.error_code']).toBe(-32042);
  expect(refuseHandled.exceptions[0]).toBeInstanceOf(RpcError);

  // Nesting: request → outer (CLIENT); outer (SERVER) → work, inner (CLIENT); inner (SERVER) is
  // the root of a trace of its own (nothing crosses the wire).
  const requestSpan = find('request');
  const outerCall = find('outer', SpanKind.CLIENT);
  const outerHandled = find('outer', SpanKind.SERVER);
  expect(outerCall.parentSpanId).toBe(requestSpan.context.spanId);
  expect(outerCall.context.traceId).toBe(requestSpan.context.traceId);
  expect(outerHandled.parentSpanId).toBeUndefined();
  expect(find('work').parentSpanId).toBe(outerHandled.context.spanId);
  const innerCall = find('inner', SpanKind.CLIENT);
  expect(innerCall.parentSpanId).toBe(outerHandled.context.spanId);
  expect(innerCall.context.traceId).toBe(outerHandled.context.traceId);
  expect(innerCall.attributes['network.peer.port']).toBe(bAddress.port);
  expect(find('inner', SpanKind.SERVER).parentSpanId).toBeUndefined();
  // Outside every handler, no span is left active.
  expect(rpcContext.getStore()).toBeUndefined();
});

test('once stopped, the recipe makes no more spans', async () => {
  const { provider, spans } = recordingProvider();
  trace.setGlobalTracerProvider(provider);
  resources.add(trace, (t) => t.disable());
  const { traceJsonRpc } = loadRecipe();
  const stop = traceJsonRpc();
  const server = resources.add(new TcpServer({ rpc: jsonRpc() }), (s) => s.close({ timeout: 500 }));
  server.handle('ping2', () => 'pong');
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const client = resources.add(new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc() }), (c) =>
    c.close({ timeout: 500 }),
  );
  await client.connect();
  await client.call('ping2');
  expect(spans).toHaveLength(2);
  stop();
  await client.call('ping2');
  expect(spans).toHaveLength(2);
});
