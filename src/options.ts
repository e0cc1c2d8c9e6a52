/**
 * Option validation shared by every constructor: a misused option is a programmer's mistake and
 * throws a TypeError with an exact sentence at construction.
 */

/** A positive safe integer size in bytes or a count, or the default when undefined. */
export function checkSize(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`The "${name}" option must be a positive integer; got ${show(value)}.`);
  }
  return value;
}

/** A non-empty string, or the fallback when undefined. */
export function checkString<F extends string | undefined>(
  name: string,
  value: unknown,
  fallback: F,
): string | F {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`The "${name}" option must be a non-empty string; got ${show(value)}.`);
  }
  return value;
}

/** A port number from `min` (0: any port, when binding) to 65535. */
export function checkPort(name: string, value: unknown, min: 0 | 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535) {
    throw new TypeError(`The "${name}" option must be an integer from ${min} to 65535; got ${show(value)}.`);
  }
  return value;
}

/** A duration in milliseconds; 0 turns the feature off. */
export function checkTime(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new TypeError(
      `The "${name}" option must be a number of milliseconds from 0 to 2147483647; got ${show(value)}.`,
    );
  }
  return value;
}

export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new TypeError(`The "${name}" option must be a boolean; got ${show(value)}.`);
  }
  return value;
}

export interface CloseOptions {
  /**
   * Milliseconds to wait for peers to finish before destroying them.
   * @default 5000
   */
  timeout?: number;
}

/** How long close() waits for peers before destroying them, unless given. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;

/** Validates close()'s options (servers and clients) and returns the timeout in ms. */
export function checkCloseTimeout(options: CloseOptions | undefined): number {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError(`close() takes an options object; got ${show(options)}.`);
  }
  return checkTime('timeout', options?.timeout, DEFAULT_CLOSE_TIMEOUT);
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/**
 * The node:tls option names both TLS ends pass through: the options of
 * `tls.createSecureContext()` that servers and clients share, and the TLS settings both
 * `tls.createServer()` and `tls.connect()` read. Each end adds its own (TlsClient: servername,
 * session…; TlsServer: requestCert, SNICallback…).
 */
export const TLS_COMMON_PASSTHROUGH_NAMES = [
  'ALPNProtocols',
  'enableTrace',
  'pskCallback',
  'rejectUnauthorized',
  // tls.createSecureContext()
  'ca',
  'cert',
  'ciphers',
  'clientCertEngine',
  'crl',
  'dhparam',
  'ecdhCurve',
  'honorCipherOrder',
  'key',
  'maxVersion',
  'minVersion',
  'passphrase',
  'pfx',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'secureOptions',
  'secureProtocol',
  'sessionIdContext',
  'sessionTimeout',
  'sigalgs',
  'ticketKeys',
] as const;

/**
 * The option names an options interface declares, as a set for checkOptionKeys(). Listing them
 * through this helper makes the compiler refuse a list that misses a key of `T` or names one it
 * does not have.
 */
export function optionKeys<T extends object>() {
  return <const K extends readonly (keyof T & string)[]>(
    ...keys: K & (Exclude<keyof T & string, K[number]> extends never ? unknown : never)
  ): ReadonlySet<string> => new Set<string>(keys);
}

/**
 * Refuses option names `owner` does not know: a JavaScript caller's typo (`maxMesageSize`, or
 * `port` given to a server's constructor instead of listen()) would otherwise be ignored without
 * a word. Throws a TypeError that names the key, and the closest known one when there is one.
 */
export function checkOptionKeys(owner: string, options: object, known: ReadonlySet<string>): void {
  // for-in over own keys: the same keys as Object.keys(), without making an array per object.
  for (const key in options) {
    if (known.has(key) || !Object.hasOwn(options, key)) continue;
    const near = closest(key, known);
    throw new TypeError(
      `Unknown option ${JSON.stringify(key)} for ${owner}${near === undefined ? '' : `; did you mean ${JSON.stringify(near)}?`}.`,
    );
  }
}

/** The known name within two edits of `key` (case ignored), if any. */
function closest(key: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, or `cap` once it is at least that. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1);
    }
    previous = current;
  }
  return Math.min(previous[b.length] as number, cap);
}
