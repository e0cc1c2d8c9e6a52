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

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}
