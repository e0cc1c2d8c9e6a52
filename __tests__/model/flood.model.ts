import { Resources } from '../helpers/net';
import { runFlood, type FloodCase } from './flood';
import { caseSeed, pick, prng } from './model';
import { FORMATS } from './wire';

const resources = new Resources();
afterEach(() => resources.closeAll());

const TCP = { transport: 'tcp' as const, counts: [1, 3, 20, 60, 120], budget: 24 << 20 };
const IPC = { transport: 'ipc' as const, counts: [1, 20, 80], budget: 16 << 20 };
const TLS = { transport: 'tls' as const, counts: [1, 8, 30], budget: 8 << 20 };

const fixedName = 'many clients tcp fixedSize';
const cases: FloodCase[] = [
  { name: 'many clients tcp lengthField()', format: FORMATS['length-default'](), ...TCP },
  { name: 'many clients tcp lengthField(offset, u24)', format: FORMATS['length-offset'](), ...TCP },
  { name: 'many clients tcp varint', format: FORMATS.varint(), ...TCP },
  { name: 'many clients tcp delimited', format: FORMATS['delimited-lf'](), ...TCP },
  { name: 'many clients tcp custom header', format: FORMATS.custom(), ...TCP },
  {
    name: fixedName,
    format: FORMATS.fixed(pick(prng(caseSeed(fixedName) ^ 0x5eed), [17, 1000, 3000, 20_000])),
    ...TCP,
  },
  { name: 'many clients ipc lengthField(u64)', format: FORMATS['length-u64'](), ...IPC },
  { name: 'many clients ipc varint', format: FORMATS.varint(), ...IPC },
  { name: 'many clients tls lengthField()', format: FORMATS['length-default'](), ...TLS },
  { name: 'many clients tls custom header (factory)', format: FORMATS['custom-factory'](), ...TLS },
];

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  await runFlood(c, caseSeed(c.name), resources);
});
