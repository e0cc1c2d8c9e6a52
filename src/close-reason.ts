import type { SockframeError } from './errors';

/**
 * What send() had accepted and was never handed to the operating system when a connection
 * closed (queued in the connection or its socket): what the peer can not have received.
 * `unsentMessages` counts the messages not handed over whole (a message whose first bytes left
 * and whose last did not is among them); `unsentBytes` counts their bytes that did not leave.
 * Both are present together, and only when they are not 0.
 */
export interface UnsentCounts {
  readonly unsentMessages?: number;
  readonly unsentBytes?: number;
}

/** Why a connection (or a UDP peer) closed. `error` carries the fault, also reported as an 'error'. */
export type CloseReason =
  | ({ readonly kind: 'peer-ended' } & UnsentCounts)
  | ({ readonly kind: 'closed' } & UnsentCounts)
  | ({ readonly kind: 'server-closing' } & UnsentCounts)
  | ({ readonly kind: 'expired' } & UnsentCounts)
  | ({ readonly kind: 'error'; readonly error: SockframeError } & UnsentCounts);

export type CloseKind = CloseReason['kind'];
