import { Buffer } from 'node:buffer';
import type { Framing } from './framing/framing';

/** The payloads send() accepts; strings are sent as UTF-8. */
export type Payload = Buffer | Uint8Array | string;

/** Unsent bytes at which send() starts returning false (connections, clients and UDP alike). */
export const WRITE_HIGH_WATER_MARK = 256 * 1024;

/** Turns a payload into framed bytes. */
export function encodePayload(framing: Framing, payload: Payload): Buffer | readonly Buffer[] {
  const buffer = toBuffer(payload);
  return framing.encode ? framing.encode(buffer) : buffer;
}

/** A payload as a Buffer, without copying Buffers and Uint8Arrays; strings as UTF-8. */
export function toBuffer(payload: Payload): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new TypeError('A payload must be a Buffer, a Uint8Array or a string.');
}
