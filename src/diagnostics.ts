import { channel } from 'node:diagnostics_channel';

/**
 * The diagnostics_channel channels sockframe publishes on (public API: names and message shapes
 * are listed in the README). Each is published only when it has subscribers, and only for
 * lifecycle events (no per-message channel), so nothing is paid when nobody listens.
 */
export const CHANNELS = Object.freeze({
  serverListening: channel('sockframe:server:listening'),
  serverClosed: channel('sockframe:server:closed'),
  serverDrop: channel('sockframe:server:drop'),
  serverError: channel('sockframe:server:error'),
  connectionOpen: channel('sockframe:connection:open'),
  connectionClose: channel('sockframe:connection:close'),
  clientConnect: channel('sockframe:client:connect'),
  clientClose: channel('sockframe:client:close'),
  clientReconnecting: channel('sockframe:client:reconnecting'),
  clientError: channel('sockframe:client:error'),
});
