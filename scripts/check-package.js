#!/usr/bin/env node
// Packs the package as `npm publish` would (prepack builds dist/), then lints the tarball with
// publint (warnings count as errors) and @arethetypeswrong/cli (every entry point must resolve to
// its types under node10, node16 from CJS and ESM, and bundler). Exits non-zero on any problem.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script run by node directly */
/* global console */
const { execFileSync, spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const root = join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const bin = (name) => join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
const dir = mkdtempSync(join(tmpdir(), 'sockframe-check-'));
let failed = false;
try {
  const packed = execFileSync(npm, ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [info] = JSON.parse(packed.slice(packed.indexOf('[')));
  const tarball = join(dir, info.filename);
  console.log(
    `${info.filename}: ${info.entryCount} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`,
  );
  for (const [name, args] of [
    ['publint', ['run', tarball, '--strict']],
    ['attw', [tarball, '--profile', 'strict', '--no-color']],
  ]) {
    const result = spawnSync(bin(name), args, { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) {
      console.error(`check:package: ${name} failed`);
      failed = true;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
