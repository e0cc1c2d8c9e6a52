/**
 * Checks what one connection received against what the model says was sent to it, frame by
 * frame, with the test's own decoder, and names the first fault: a message on the wrong
 * connection, a corrupted frame, a loss, a duplicate, a reorder, a truncation or an extra frame.
 */
import { Buffer } from 'node:buffer';
import { BROADCAST, findIdentity, identityOf, payloadOf, type Message, type WireFormat } from './wire';

export type FaultKind =
  'wrong-connection' | 'corrupt' | 'bad-header' | 'loss' | 'duplicate' | 'reorder' | 'truncated' | 'extra';

export interface Fault {
  readonly kind: FaultKind;
  /** Index in the connection's expected messages (or in the received frames, for `extra`). */
  readonly index: number;
  /** Byte offset in the received stream where the faulty frame starts. */
  readonly streamOffset: number;
  /** First differing byte, from the start of the frame, when there is one. */
  readonly frameOffset?: number;
  readonly detail: string;
}

/**
 * How the stream must end: `all` (the connection was flushed and ended: every message, nothing
 * more) or `prefix` (destroyed: the messages in order up to some point, and at most a cut-off
 * start of the next one).
 */
export type Expect = 'all' | 'prefix';

export function describeMessage(message: Message): string {
  const who =
    message.tag === BROADCAST ? `broadcast #${message.seq}` : `conn ${message.tag} seq ${message.seq}`;
  return `${who} (${message.size} B)`;
}

function describeIdentity(id: { tag: number; seq: number }): string {
  return id.tag === BROADCAST ? `broadcast #${id.seq}` : `conn ${id.tag} seq ${id.seq}`;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** What foreign bytes at `offset` of a frame look like: another message's identity nearby, if any. */
function intruder(frame: Buffer, offset: number): string {
  const window = frame.subarray(Math.max(0, offset - IDENTITY_LOOKBACK), offset + 4096);
  const found = findIdentity(window);
  return found === undefined ? '' : `; the bytes there carry ${describeIdentity(found)}`;
}
const IDENTITY_LOOKBACK = 24;

/**
 * Returns the first fault, or undefined when `stream` is exactly what `expected` should give.
 * `self` is the index of the receiving connection (its own messages carry it as their tag).
 */
export function checkStream(
  format: WireFormat,
  run: number,
  self: number,
  expected: readonly Message[],
  stream: Buffer,
  mode: Expect,
): Fault | undefined {
  const index = new Map<string, number>();
  expected.forEach((m, i) => index.set(`${m.tag}/${m.seq}`, i));
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    const message = expected[i] as Message;
    const want = format.encode(payloadOf(run, message, format.avoid));
    if (at === stream.length) {
      if (mode === 'prefix') return undefined;
      return {
        kind: 'loss',
        index: i,
        streamOffset: at,
        detail: `the stream ended after ${i} of ${expected.length} messages; ${describeMessage(message)} and later never arrived`,
      };
    }
    const cut = format.cut(stream, at);
    if ('need' in cut || 'bad' in cut) {
      const rest = stream.subarray(at);
      const diff = firstDifference(rest, want);
      // A destroyed connection may end inside a frame, if what did arrive is that frame's start.
      if ('need' in cut && mode === 'prefix' && rest.length < want.length && diff === rest.length) {
        return undefined;
      }
      if (diff === -1 || diff >= want.length) {
        // The expected frame is there whole, but the decoder refused it: a fault of the test.
        throw new Error(`decoder of ${format.name} refused a correct frame at ${at}`);
      }
      if ('bad' in cut) {
        return {
          kind: 'bad-header',
          index: i,
          streamOffset: at,
          frameOffset: diff,
          detail: `frame for ${describeMessage(message)} has a bad header (${cut.bad}); first differing byte at offset ${diff} of the frame${intruder(rest, diff)}`,
        };
      }
      return diff === rest.length
        ? {
            kind: 'truncated',
            index: i,
            streamOffset: at,
            frameOffset: diff,
            detail: `the stream ended ${rest.length} bytes into ${describeMessage(message)}`,
          }
        : {
            kind: 'corrupt',
            index: i,
            streamOffset: at,
            frameOffset: diff,
            detail: `frame for ${describeMessage(message)} is corrupted and runs past the end of the stream (${rest.length} B left); first differing byte at offset ${diff} of the frame${intruder(rest, diff)}`,
          };
    }
    const frame = stream.subarray(at, cut.end);
    if (!frame.equals(want)) {
      const payload = stream.subarray(cut.payloadStart, cut.payloadEnd);
      const claimed = identityOf(payload);
      const diff = firstDifference(frame, want);
      const intact =
        claimed !== undefined &&
        payload.equals(payloadOf(run, { ...claimed, size: payload.length }, format.avoid));
      if (intact && claimed.tag !== message.tag && claimed.tag !== BROADCAST && claimed.tag !== self) {
        return {
          kind: 'wrong-connection',
          index: i,
          streamOffset: at,
          frameOffset: diff,
          detail: `expected ${describeMessage(message)}, got ${describeIdentity(claimed)} (${payload.length} B), a message sent to another connection`,
        };
      }
      if (intact) {
        const where = index.get(`${claimed.tag}/${claimed.seq}`);
        const kind: FaultKind = where === undefined ? 'wrong-connection' : where < i ? 'duplicate' : 'loss';
        const later = index.get(`${message.tag}/${message.seq}`) as number;
        const seenLater = kind === 'loss' && laterContains(format, run, stream, cut.end, message);
        return {
          kind: seenLater ? 'reorder' : kind,
          index: i,
          streamOffset: at,
          frameOffset: diff,
          detail:
            where === undefined
              ? `expected ${describeMessage(message)}, got ${describeIdentity(claimed)}, which was never sent here`
              : where < i
                ? `expected ${describeMessage(message)}, got ${describeIdentity(claimed)} again (message #${where})`
                : `expected ${describeMessage(message)} (message #${later}), got ${describeIdentity(claimed)} (message #${where})${seenLater ? '; the expected one comes later' : `: ${where - i} message(s) lost`}`,
        };
      }
      return {
        kind: 'corrupt',
        index: i,
        streamOffset: at,
        frameOffset: diff,
        detail: `frame for ${describeMessage(message)} is corrupted: ${frame.length} B received, ${want.length} B expected, first differing byte at offset ${diff} of the frame${intruder(frame, diff)}`,
      };
    }
    at = cut.end;
  }
  if (at < stream.length) {
    const cut = format.cut(stream, at);
    const claimed = 'end' in cut ? identityOf(stream.subarray(cut.payloadStart, cut.payloadEnd)) : undefined;
    return {
      kind: 'extra',
      index: expected.length,
      streamOffset: at,
      detail: `${stream.length - at} bytes after the last of ${expected.length} messages${claimed === undefined ? intruder(stream.subarray(at), 0) : `; they carry ${describeIdentity(claimed)}`}`,
    };
  }
  return undefined;
}

/** Whether `message`'s frame appears in the stream after `from` (tells a reorder from a loss). */
function laterContains(
  format: WireFormat,
  run: number,
  stream: Buffer,
  from: number,
  message: Message,
): boolean {
  return stream.indexOf(format.encode(payloadOf(run, message, format.avoid)), from) !== -1;
}
