// A real language server (vscode-json-language-server, from the vscode-langservers-extracted dev
// dependency) talking to sockframe over the LSP base protocol (contentLength()). The language
// server is started with --socket=<port> (it connects to a listening TCP socket) or
// --pipe=<path> (a Unix socket), so sockframe's own server socket carries the session: the
// server side of sockframe plays the LSP client, as an editor would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  contentLength,
  IpcServer,
  jsonRpc,
  TcpServer,
  type Connection,
  type SockframeError,
} from 'sockframe';
import { Resources, tmpSocketPath } from '../helpers/net';

const binary = join(__dirname, '..', '..', 'node_modules', '.bin', 'vscode-json-language-server');
const resources = new Resources();
afterEach(() => resources.closeAll());

interface Position {
  line: number;
  character: number;
}
interface Range {
  start: Position;
  end: Position;
}
interface Diagnostic {
  range: Range;
  message: string;
  severity?: number;
  source?: string;
}
interface TextEdit {
  range: Range;
  newText: string;
}
interface DocumentSymbol {
  name: string;
  kind: number;
  range: Range;
  children?: DocumentSymbol[];
}

/** The requests the editor side (sockframe) sends to the language server. */
interface LanguageServerApi {
  initialize(p: { processId: number | null; rootUri: null; capabilities: object }): {
    capabilities: { documentSymbolProvider?: boolean; completionProvider?: object; hoverProvider?: boolean };
  };
  shutdown(): null;
  'textDocument/documentSymbol'(p: { textDocument: { uri: string } }): DocumentSymbol[];
  'textDocument/formatting'(p: {
    textDocument: { uri: string };
    options: { tabSize: number; insertSpaces: boolean };
  }): TextEdit[];
  'textDocument/completion'(p: {
    textDocument: { uri: string };
    position: Position;
  }): { items: { label: string }[] } | { label: string }[];
}

/** The requests the language server sends to the editor. */
interface EditorApi {
  'client/registerCapability'(p: { registrations: { id: string; method: string }[] }): null;
  'client/unregisterCapability'(p: { unregisterations: { id: string; method: string }[] }): null;
  'workspace/configuration'(p: { items: { section?: string }[] }): unknown[];
  'window/workDoneProgress/create'(p: { token: string | number }): null;
}

const uri = 'file:///tmp/sockframe-lsp/broken.json';
// Line 2 (0-based) has a property without its value: one syntax error, "Value expected".
const text = '{\n  "name": "sockframe",\n  "count": ,\n  "tags": ["a", "b"]\n}\n';

const SYMBOL_STRING = 15;
const SYMBOL_ARRAY = 18;

/** Applies LSP text edits (non-overlapping, any order) to a text. */
function applyEdits(source: string, edits: TextEdit[]): string {
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source[i] === '\n') lineStarts.push(i + 1);
  const offset = (p: Position): number => (lineStarts[p.line] ?? source.length) + p.character;
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  let out = source;
  for (const edit of sorted) {
    out = out.slice(0, offset(edit.range.start)) + edit.newText + out.slice(offset(edit.range.end));
  }
  return out;
}

/** Resolves with the params of the first notification of `method` that `match` accepts. */
function nextNotification<T>(
  server: TcpServer | IpcServer,
  method: string,
  match: (params: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off('notification', listener);
      reject(new Error(`no ${method} notification within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (_conn: Connection, m: string, params: unknown): void => {
      if (m !== method || !match(params as T)) return;
      clearTimeout(timer);
      server.off('notification', listener);
      resolve(params as T);
    };
    server.on('notification', listener);
  });
}

function startLanguageServer(arg: string): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [binary, arg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      if (code !== 0 && stderr !== '') process.stderr.write(stderr);
      resolve(code);
    }),
  );
  resources.add(child, (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill();
    return exited;
  });
  return { child, exited };
}

async function session(transport: 'tcp' | 'ipc'): Promise<void> {
  const rpc = jsonRpc<EditorApi, LanguageServerApi>();
  const server =
    transport === 'tcp'
      ? new TcpServer({ framing: contentLength(), rpc })
      : new IpcServer({ framing: contentLength(), rpc });
  resources.add(server, (s) => s.close({ timeout: 500 }));
  const errors: SockframeError[] = [];
  server.on('error', (err) => errors.push(err));
  const registrations: string[] = [];
  let registeredBoth: () => void = () => {};
  const registered = new Promise<void>((resolve) => (registeredBoth = resolve));
  server.handle('client/registerCapability', ({ registrations: r }) => {
    registrations.push(...r.map((x) => x.method));
    if (registrations.length >= 2) registeredBoth();
    return null;
  });
  server.handle('client/unregisterCapability', () => null);
  server.handle('window/workDoneProgress/create', () => null);
  // Not asked by this server today; an editor answers it with one value per item.
  server.handle('workspace/configuration', ({ items }) => items.map(() => null));
  const connected = new Promise<Connection<unknown, LanguageServerApi>>((resolve) =>
    server.once('connect', resolve),
  );

  let started: { child: ChildProcess; exited: Promise<number | null> };
  if (transport === 'tcp') {
    const { port } = await (server as TcpServer).listen({ port: 0, host: '127.0.0.1' });
    started = startLanguageServer(`--socket=${port}`);
  } else {
    const path = resources.removeFile(tmpSocketPath());
    await (server as IpcServer).listen({ path });
    started = startLanguageServer(`--pipe=${path}`);
  }
  const conn = await connected;

  const init = await conn.call(
    'initialize',
    {
      processId: process.pid,
      rootUri: null,
      capabilities: {
        textDocument: {
          // Dynamic registration makes the server ask us with client/registerCapability.
          rangeFormatting: { dynamicRegistration: true },
          documentSymbol: { hierarchicalDocumentSymbolSupport: true },
          completion: { completionItem: { snippetSupport: true } },
          publishDiagnostics: {},
        },
        workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: false } },
      },
    },
    { timeout: 10_000 },
  );
  expect(init.capabilities.documentSymbolProvider).toBe(true);
  expect(init.capabilities.hoverProvider).toBe(true);
  expect(init.capabilities.completionProvider).toBeDefined();
  conn.notify('initialized', {});
  // The JSON server validates only when its settings say so, and registers its formatter
  // (a server -> client request) when formatting is enabled.
  conn.notify('workspace/didChangeConfiguration', {
    settings: { json: { validate: { enable: true }, format: { enable: true } } },
  });
  await registered;
  expect(registrations.sort()).toEqual(['textDocument/formatting', 'textDocument/rangeFormatting']);

  const diagnostics = nextNotification<{ uri: string; diagnostics: Diagnostic[] }>(
    server,
    'textDocument/publishDiagnostics',
    (p) => p.uri === uri && p.diagnostics.length > 0,
  );
  conn.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'json', version: 1, text } });
  const published = await diagnostics;
  // The missing value on line 2 (0-based), at the comma right after "count": .
  const onCount = published.diagnostics.filter((d) => d.range.start.line === 2);
  expect(onCount.length).toBeGreaterThanOrEqual(1);
  expect(onCount[0]).toMatchObject({ severity: 1, message: 'Value expected' });
  expect(onCount[0]?.range.start.character).toBe(text.split('\n')[2]?.indexOf(','));
  for (const d of published.diagnostics) expect(d.range.start.line).toBe(2);

  const symbols = await conn.call('textDocument/documentSymbol', { textDocument: { uri } });
  // The property without a value is no symbol.
  expect(symbols.map((s) => [s.name, s.kind])).toEqual([
    ['name', SYMBOL_STRING],
    ['tags', SYMBOL_ARRAY],
  ]);
  const tags = symbols.find((s) => s.name === 'tags');
  expect(tags?.range).toEqual({ start: { line: 3, character: 2 }, end: { line: 3, character: 20 } });
  expect(tags?.children?.map((c) => c.name)).toEqual(['0', '1']);

  const completion = await conn.call('textDocument/completion', {
    textDocument: { uri },
    position: { line: 0, character: 1 },
  });
  const items = Array.isArray(completion) ? completion : completion.items;
  expect(items.map((item) => item.label)).toContain('$schema');

  // An incremental change fills in the value: the server publishes an empty list for the document.
  const cleared = nextNotification<{ uri: string; diagnostics: Diagnostic[] }>(
    server,
    'textDocument/publishDiagnostics',
    (p) => p.uri === uri && p.diagnostics.length === 0,
  );
  const line2 = text.split('\n')[2] as string;
  const at = { line: 2, character: line2.indexOf(',') };
  conn.notify('textDocument/didChange', {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: at, end: at }, text: '3' }],
  });
  await cleared;

  // The formatter the server registered with us answers too.
  const edits = await conn.call('textDocument/formatting', {
    textDocument: { uri },
    options: { tabSize: 4, insertSpaces: true },
  });
  const fixed = text.replace('"count": ,', '"count": 3,');
  expect(applyEdits(fixed, edits)).toBe(
    '{\n    "name": "sockframe",\n    "count": 3,\n    "tags": [\n        "a",\n        "b"\n    ]\n}',
  );

  // An unknown request is answered with the LSP's MethodNotFound, through sockframe's RemoteError.
  const unknown = await conn.call('textDocument/nonsense' as 'shutdown').catch((e: unknown) => e);
  expect(unknown).toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32601 });

  expect(await conn.call('shutdown')).toBeNull();
  conn.notify('exit');
  expect(await started.exited).toBe(0);
  expect(errors).toEqual([]);
}

const present = existsSync(binary);
if (!present) {
  test.skip(`${binary} is missing (install the vscode-langservers-extracted dev dependency)`, () => {});
}
const maybe = present ? test : test.skip;

maybe('vscode-json-language-server over TCP (--socket), contentLength() framing', () => session('tcp'));
maybe('vscode-json-language-server over a Unix socket (--pipe), contentLength() framing', () =>
  session('ipc'),
);
