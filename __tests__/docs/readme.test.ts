/**
 * README.md's code blocks, checked against the package as `npm pack` ships it.
 *
 * The convention (also in an HTML comment at the top of README.md):
 *
 * - A ```ts block is a complete program by default: its own imports, the logger it uses, and it
 *   waits for what it prints, closes what it opens and exits by itself within seconds. It is
 *   type-checked with `strict` against the installed tarball three times — `module: nodenext` in
 *   a `"type": "module"` package, `module: nodenext` in a `"type": "commonjs"` package, and
 *   `moduleResolution: bundler` — then run as ESM, and also as CommonJS when it has no top-level
 *   `await`. A block with top-level `await` must fail in a CommonJS `.ts` file with TS1309 only,
 *   and pass as a `.mts` file of the same CommonJS package (what the README says about it).
 *   The run must exit 0, print nothing on stderr, and be done in 20 s.
 * - `<!-- doc:stdout ... -->` right after the fence: what the program prints (the lines of stdout
 *   that are not JSON log records, compared exactly). A block that calls console.log must have it.
 * - `<!-- doc:server -->` before the fence: a server program. It is run until it prints a line
 *   with `listening`, then sent SIGTERM, and must then exit 0 by itself. `PORT=0` is set.
 * - `needs:redis` in a doc:run or doc:server marker: run only when redis-server is installed,
 *   against one started here on a free port (`REDIS_URL`); otherwise type-checked and the run
 *   skipped, saying why.
 * - `<!-- doc:typecheck REASON -->`: type-checked (the three setups), not run — for programs that
 *   cannot run here (they fork, or listen on a fixed port for ever).
 * - `<!-- doc:skip REASON -->`: neither — signature listings and other fragments.
 * - Other fences (sh, diagrams) are not programs; every `npm run X` in a sh block must name a
 *   script of package.json.
 *
 * Snippets are compiled for target ES2022 with lib `esnext.disposable` (see the README's
 * TypeScript notes for `await using`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { readBlocks, npmScripts, TYPESCRIPT, type CodeBlock } from './blocks';
import { makeConsumer, packFreshBuild, ROOT, run, TSC, type Consumer, type Packed } from '../helpers/pack';
import { NO_REDIS_REASON, REDIS_SERVER, RedisProcess } from '../scale/support';

const README = join(ROOT, 'README.md');
const RUN_TIMEOUT = 20_000;

/** Does the program use `await` (or `for await`, `await using`) outside any function? */
export function usesTopLevelAwait(code: string): boolean {
  const file = ts.createSourceFile('block.ts', code, ts.ScriptTarget.ES2022, true);
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found || ts.isFunctionLike(node) || ts.isClassLike(node)) return;
    if (
      ts.isAwaitExpression(node) ||
      (ts.isForOfStatement(node) && node.awaitModifier !== undefined) ||
      (ts.isVariableDeclarationList(node) && Number(node.flags & ts.NodeFlags.AwaitUsing) === Number(ts.NodeFlags.AwaitUsing))
    ) {
      found = true;
      return;
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(file, visit);
  return found;
}

interface Diagnostic {
  file: string;
  line: number;
  code: number;
  text: string;
}

/** Runs tsc on a project and returns its diagnostics by file. */
async function typecheck(dir: string): Promise<Diagnostic[]> {
  const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], dir, {
    timeout: 180_000,
  });
  const diagnostics: Diagnostic[] = [];
  for (const line of result.stdout.split('\n')) {
    const match = /^(.+?)\((\d+),\d+\): error TS(\d+): (.*)$/.exec(line);
    if (match !== null) {
      diagnostics.push({ file: match[1] as string, line: Number(match[2]), code: Number(match[3]), text: line });
    } else if (line.trim() !== '' && !line.startsWith(' ')) {
      diagnostics.push({ file: '', line: 0, code: 0, text: line });
    }
  }
  if (result.code !== 0 && diagnostics.length === 0) {
    diagnostics.push({ file: '', line: 0, code: 0, text: `tsc exited ${result.code}: ${result.stderr}` });
  }
  return diagnostics;
}

const name = (block: CodeBlock): string => `readme-${block.line}`;
const where = (block: CodeBlock): string => `README.md:${block.line} (${block.heading})`;

function describeDiagnostics(block: CodeBlock, found: readonly Diagnostic[]): string {
  return found
    .map((d) => `README.md:${block.line + d.line}: TS${d.code} ${d.text.replace(/^.*error TS\d+: /, '')}`)
    .join('\n');
}

const COMPILER_OPTIONS = {
  strict: true,
  target: 'es2022',
  lib: ['es2022', 'esnext.disposable'],
  types: ['node'],
  moduleDetection: 'force',
  skipLibCheck: false,
  rootDir: '.',
  outDir: 'out',
};

const blocks = readBlocks(readFileSync(README, 'utf8'));
const candidates = blocks.filter((b) => TYPESCRIPT.has(b.lang) && b.kind !== 'skip');
const programs = candidates.filter((b) => syntaxErrors(b) === '');
const runnable = programs.filter((b) => b.kind === 'run' || b.kind === 'server');
/** Syntax errors of a block on its own: tsc skips every semantic check of a program that has one. */
function syntaxErrors(block: CodeBlock): string {
  const { diagnostics: found = [] } = ts.transpileModule(block.code, {
    reportDiagnostics: true,
    fileName: 'block.ts',
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  });
  return found
    .map((d) => {
      const line = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
      return `README.md:${block.line + 1 + line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    })
    .join('\n');
}

const topLevelAwait = new Set(programs.filter((b) => usesTopLevelAwait(b.code)).map((b) => b.line));

let packed: Packed;
const consumers: Record<'esm' | 'cjs' | 'bundler', Consumer> = {} as never;
const diagnostics: Record<'esm' | 'cjs' | 'bundler', Diagnostic[]> = { esm: [], cjs: [], bundler: [] };
let redis: RedisProcess | undefined;

beforeAll(async () => {
  packed = await packFreshBuild();
  consumers.esm = await makeConsumer(packed, { type: 'module' });
  consumers.cjs = await makeConsumer(packed, { type: 'commonjs' });
  consumers.bundler = await makeConsumer(packed, { type: 'module' });
  const setups: [keyof typeof consumers, Record<string, unknown>][] = [
    ['esm', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['cjs', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler', noEmit: true }],
  ];
  for (const [setup, options] of setups) {
    const dir = consumers[setup].dir;
    const files: string[] = [];
    for (const block of programs) {
      files.push(`${name(block)}.ts`);
      await writeFile(join(dir, `${name(block)}.ts`), block.code);
      if (setup === 'cjs' && topLevelAwait.has(block.line)) {
        files.push(`${name(block)}.mts`);
        await writeFile(join(dir, `${name(block)}.mts`), block.code);
      }
    }
    const tsconfig = { compilerOptions: { ...COMPILER_OPTIONS, ...options }, files };
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  }
  const [esm, cjs, bundler] = await Promise.all(setups.map(([setup]) => typecheck(consumers[setup].dir)));
  Object.assign(diagnostics, { esm, cjs, bundler });
  if (REDIS_SERVER !== undefined && runnable.some((b) => b.needs.includes('redis'))) {
    redis = await RedisProcess.start();
  }
}, 600_000);

afterAll(async () => {
  await redis?.stop();
  for (const consumer of Object.values(consumers)) await consumer?.cleanup();
  await packed?.cleanup();
});

test('the README has blocks to check, and every marker is understood', () => {
  expect(programs.length).toBeGreaterThan(5);
  expect(runnable.length).toBeGreaterThan(5);
});

test('no diagnostics outside the snippets (the shipped declarations type-check under strict)', () => {
  for (const setup of ['esm', 'cjs', 'bundler'] as const) {
    expect(diagnostics[setup].filter((d) => !d.file.startsWith('readme-')).map((d) => d.text)).toEqual([]);
  }
});

test.each(candidates.map((b) => [where(b), b] as const))('%s parses', (_title, block) => {
  expect(syntaxErrors(block)).toBe('');
});

describe.each(programs.map((b) => [where(b), b] as const))('%s', (_title, block) => {
  const mine = (setup: keyof typeof diagnostics, ext = '.ts'): Diagnostic[] =>
    diagnostics[setup].filter((d) => d.file === `${name(block)}${ext}`);

  test('type-checks: nodenext in a "type": "module" package', () => {
    expect(describeDiagnostics(block, mine('esm'))).toBe('');
  });

  test('type-checks: moduleResolution bundler', () => {
    expect(describeDiagnostics(block, mine('bundler'))).toBe('');
  });

  if (topLevelAwait.has(block.line)) {
    test('in a "type": "commonjs" package: TS1309 as .ts (top-level await), clean as .mts', () => {
      const asTs = mine('cjs');
      expect(asTs.length).toBeGreaterThan(0);
      expect(describeDiagnostics(block, asTs.filter((d) => d.code !== 1309))).toBe('');
      expect(describeDiagnostics(block, mine('cjs', '.mts'))).toBe('');
    });
  } else {
    test('type-checks: nodenext in a "type": "commonjs" package', () => {
      expect(describeDiagnostics(block, mine('cjs'))).toBe('');
    });
  }

  if (block.kind === 'typecheck') return;

  if (block.stdout === undefined && /console\.log/.test(block.code)) {
    test('declares what it prints (<!-- doc:stdout --> after the fence)', () => {
      throw new Error(`${where(block)} calls console.log but has no <!-- doc:stdout ... --> after it`);
    });
  }

  const skipRun = block.needs.includes('redis') && REDIS_SERVER === undefined;
  const formats: ('ESM' | 'CommonJS')[] = topLevelAwait.has(block.line) ? ['ESM'] : ['ESM', 'CommonJS'];
  for (const format of formats) {
    const title = block.kind === 'server' ? `serves until SIGTERM, then exits 0 (${format})` : `runs (${format})`;
    if (skipRun) {
      test.skip(`${title}: ${NO_REDIS_REASON}`, () => {});
      continue;
    }
    test(title, async () => {
      const consumer = format === 'ESM' ? consumers.esm : consumers.cjs;
      const setup = format === 'ESM' ? 'esm' : 'cjs';
      // A program that does not compile is reported by the type-check test; don't run its output.
      expect(mine(setup)).toEqual([]);
      const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', NO_COLOR: '1' };
      delete env.NODE_OPTIONS;
      if (redis !== undefined) env.REDIS_URL = `redis://127.0.0.1:${redis.port}`;
      const result = await execute(join(consumer.dir, 'out', `${name(block)}.js`), consumer.dir, env, block.kind);
      if (result.failure !== undefined) throw new Error(`${where(block)}: ${result.failure}\n${result.output}`);
      expect(result.stderr).toBe('');
      if (block.stdout !== undefined) {
        const printed = result.stdout
          .split('\n')
          .filter((l) => !l.startsWith('{') && l !== '')
          .join('\n');
        expect(printed).toBe(block.stdout.trim());
      }
    }, RUN_TIMEOUT + 15_000);
  }
});

interface Execution {
  failure: string | undefined;
  stdout: string;
  stderr: string;
  output: string;
}

function execute(file: string, cwd: string, env: NodeJS.ProcessEnv, kind: CodeBlock['kind']): Promise<Execution> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let failure: string | undefined;
    let signalled = false;
    const timer = setTimeout(() => {
      failure ??= `still running after ${RUN_TIMEOUT} ms (something was left open)`;
      child.kill('SIGKILL');
    }, RUN_TIMEOUT);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (kind === 'server' && !signalled && /listening/.test(stdout)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (failure === undefined && code !== 0) failure = `exit ${code ?? signal}`;
      if (failure === undefined && kind === 'server' && !signalled) failure = 'exited before printing "listening"';
      resolve({ failure, stdout, stderr, output: `stdout:\n${stdout}\nstderr:\n${stderr}` });
    });
  });
}

test('every `npm run` script named in a shell block exists', async () => {
  const scripts = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts;
  const named = blocks.filter((b) => b.lang === 'sh').flatMap((b) => npmScripts(b.code));
  expect(named.length).toBeGreaterThan(0);
  expect(named.filter((s) => !(s in scripts))).toEqual([]);
});

test('the README links the API reference at the package homepage (an absolute URL, so it works on the registry page)', async () => {
  const { homepage } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { homepage: string };
  expect(homepage).toMatch(/^https:\/\//);
  const readme = await readFile(README, 'utf8');
  expect(readme).toContain(`<${homepage}>`);
  // No relative links into docs/api: that folder is built, not committed.
  expect(readme).not.toMatch(/\]\((?:\.\/)?docs\/api/);
});
