// The model-based write-path suite (`npm run test:model`): seeded random programs over real
// sockets, checked by decoders written in the tests. Not part of `npm test`.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest reads this file as CommonJS
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['**/__tests__/model/**/*.model.ts'],
  testTimeout: 90000,
};
