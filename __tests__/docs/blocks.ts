/**
 * Reads the fenced code blocks of a Markdown file and the doc-test markers around them.
 * The convention is described in readme.test.ts.
 */

export type BlockKind = 'run' | 'server' | 'typecheck' | 'skip';

export interface CodeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The fence's info string, e.g. 'ts' or 'sh' ('' for none). */
  readonly lang: string;
  readonly code: string;
  /** The nearest heading above the block. */
  readonly heading: string;
  readonly kind: BlockKind;
  /** Why a block is only type-checked or skipped. */
  readonly reason: string;
  /** What the block needs to run, e.g. 'redis' (from `needs:redis`). */
  readonly needs: readonly string[];
  /** What the program must print, from a `<!-- doc:stdout ... -->` comment after the fence. */
  readonly stdout: string | undefined;
}

/** Languages whose blocks are TypeScript programs to check. */
export const TYPESCRIPT = new Set(['ts', 'typescript']);

const MARKER = /^<!--\s*doc:(run|server|typecheck|skip)\b([\s\S]*?)-->\s*$/;
const STDOUT = /^<!--\s*doc:stdout\s*\n([\s\S]*?)\n?-->\s*$/;

export class MarkerError extends Error {}

export function readBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  for (const [index, text] of lines.entries()) {
    const marker = /<!--\s*doc:(\w*)/.exec(text);
    if (marker !== null && !['run', 'server', 'typecheck', 'skip', 'stdout'].includes(marker[1] as string)) {
      throw new MarkerError(`line ${index + 1}: unknown marker doc:${marker[1]}`);
    }
  }
  const blocks: CodeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    if (/^#{1,6} /.test(text)) heading = text.replace(/^#+ /, '');
    const fence = /^(`{3,})(.*)$/.exec(text);
    if (fence === null) continue;
    const [, ticks = '```', info = ''] = fence;
    const start = i;
    let end = i + 1;
    while (end < lines.length && !(lines[end] as string).startsWith(ticks)) end++;
    if (end >= lines.length) throw new MarkerError(`line ${start + 1}: unclosed code fence`);
    const code = lines.slice(start + 1, end).join('\n') + '\n';
    const before = commentBefore(lines, start);
    const after = commentAfter(lines, end);
    let kind: BlockKind = 'run';
    let reason = '';
    let needs: string[] = [];
    if (before !== undefined && !/^<!--\s*doc:stdout\b/.test(before)) {
      const marker = MARKER.exec(before);
      if (marker !== null) {
        kind = marker[1] as BlockKind;
        const words = (marker[2] ?? '').trim().split(/\s+/);
        needs = words.filter((w) => w.startsWith('needs:')).map((w) => w.slice('needs:'.length));
        reason = words
          .filter((w) => !w.startsWith('needs:'))
          .join(' ')
          .replace(/^[:—-]\s*/, '');
      }
    }
    let stdout: string | undefined;
    if (after !== undefined) {
      const match = STDOUT.exec(after);
      if (match !== null) stdout = match[1] ?? '';
    }
    if ((kind === 'typecheck' || kind === 'skip') && reason === '') {
      throw new MarkerError(`line ${start + 1}: doc:${kind} needs a reason`);
    }
    blocks.push({ line: start + 1, lang: info.trim(), code, heading, kind, reason, needs, stdout });
    i = end;
  }
  return blocks;
}

/** The HTML comment that ends on the last non-blank line before `index`, if any. */
function commentBefore(lines: readonly string[], index: number): string | undefined {
  let last = index - 1;
  while (last >= 0 && (lines[last] as string).trim() === '') last--;
  if (last < 0 || !(lines[last] as string).trimEnd().endsWith('-->')) return undefined;
  let first = last;
  while (first >= 0 && !(lines[first] as string).includes('<!--')) first--;
  if (first < 0) return undefined;
  return lines.slice(first, last + 1).join('\n').trim();
}

/** The HTML comment that starts on the first non-blank line after `index`, if any. */
function commentAfter(lines: readonly string[], index: number): string | undefined {
  let first = index + 1;
  while (first < lines.length && (lines[first] as string).trim() === '') first++;
  if (first >= lines.length || !(lines[first] as string).trimStart().startsWith('<!--')) return undefined;
  let last = first;
  while (last < lines.length && !(lines[last] as string).includes('-->')) last++;
  return lines.slice(first, last + 1).join('\n').trim();
}

/** The `npm run <script>` commands named in shell blocks. */
export function npmScripts(code: string): string[] {
  return [...code.matchAll(/\bnpm run ([\w:.-]+)/g)].map((m) => m[1] as string);
}
