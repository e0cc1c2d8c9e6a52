// Runs the model-based write-path suite: `npm run test:model [-- --seed N] [--minutes M] [jest args]`.
// Jest refuses flags it does not know, so --seed and --minutes are taken here and handed to the
// tests as SOCKFRAME_MODEL_SEED; everything else (--json, --outputFile=…, -t …) goes to jest.
// With --minutes, the suite is run again and again with seeds N, N+1, … until the time is up or
// a run fails; the failing seed is printed with the command that replays it.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS script run by node directly */
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const usage = 'usage: npm run test:model -- [--seed N] [--minutes M] [jest options]';

function parse(argv) {
  const options = { seed: undefined, minutes: undefined, jest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const match = /^--(seed|minutes)(?:=(.*))?$/.exec(arg);
    if (match === null) {
      options.jest.push(arg);
      continue;
    }
    const value = match[2] !== undefined ? match[2] : argv[++i];
    const number = Number(value);
    if (value === undefined || value === '' || !Number.isFinite(number) || number < 0) {
      process.stderr.write(`--${match[1]} needs a non-negative number; got ${value}\n${usage}\n`);
      process.exit(2);
    }
    if (match[1] === 'seed') {
      if (!Number.isSafeInteger(number) || number > 0xffffffff) {
        process.stderr.write(`--seed must be an integer from 0 to 4294967295; got ${value}\n`);
        process.exit(2);
      }
      options.seed = number;
    } else {
      options.minutes = number;
    }
  }
  return options;
}

function runOnce(seed, jestArgs) {
  process.stdout.write(`model suite: seed ${seed}\n`);
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--config',
      join(root, 'jest.model.config.js'),
      '--detectOpenHandles',
      ...jestArgs,
    ],
    { cwd: root, stdio: 'inherit', env: { ...process.env, SOCKFRAME_MODEL_SEED: String(seed) } },
  );
  if (result.error) throw result.error;
  return result.status === null ? 1 : result.status;
}

function failed(seed, jestArgs) {
  const extra = jestArgs.filter((a) => !/^--(json|outputFile)/.test(a));
  const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  const repro = ['npm run test:model --', '--seed', String(seed), ...extra.map(quote)];
  process.stderr.write(`\nmodel suite FAILED with seed ${seed}\nrepro: ${repro.join(' ')}\n`);
}

const options = parse(process.argv.slice(2));
const first = options.seed !== undefined ? options.seed : Math.floor(Math.random() * 2 ** 31);
if (options.minutes === undefined) {
  const status = runOnce(first, options.jest);
  if (status !== 0) failed(first, options.jest);
  process.exit(status);
}

const deadline = Date.now() + options.minutes * 60_000;
let seed = first;
let runs = 0;
do {
  const status = runOnce(seed, options.jest);
  runs++;
  if (status !== 0) {
    failed(seed, options.jest);
    process.exit(status);
  }
  seed = (seed + 1) % 2 ** 32;
} while (Date.now() < deadline);
process.stdout.write(
  `model suite: ${runs} runs passed, seeds ${first} to ${(seed + 2 ** 32 - 1) % 2 ** 32}\n`,
);
