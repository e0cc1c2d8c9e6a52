import type { Socket } from 'node:net';

/** Applies the per-socket options shared by stream servers and clients. */
export function tuneSocket(socket: Socket, noDelay: boolean, keepAlive: boolean | number): void {
  socket.setNoDelay(noDelay);
  if (keepAlive !== false) socket.setKeepAlive(true, keepAlive === true ? 0 : keepAlive);
}
