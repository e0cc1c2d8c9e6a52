// The public surface of sockframe. Everything users may import is listed here by name.

export {
  SockframeError,
  FrameTooLargeError,
  InvalidFrameLengthError,
  FramingHookError,
  MessageTimeoutError,
  IdleTimeoutError,
  SlowConsumerError,
  DatagramTooLargeError,
  NotConnectedError,
  ConnectTimeoutError,
  AddressInUseError,
  ListenerError,
  SocketError,
  ServerClosedError,
  AlreadyListeningError,
  ConnectAbortedError,
  IncompleteMessageError,
  QueueFullError,
  AdapterUnavailableError,
  AdapterMessageError,
  MemoryBudgetError,
  NotListeningError,
  TlsVerificationError,
  RemoteError,
  RequestTimeoutError,
  RequestAbortedError,
  ConnectionLostError,
  TooManyPendingError,
  HeartbeatTimeoutError,
  RpcProtocolError,
  RpcHandlerError,
  HandshakeRefusedError,
  HandshakeTimeoutError,
  SocketPathTooLongError,
} from './errors';
export type { SockframeErrorCode, SockframeErrorOptions } from './errors';

export { NEED_MORE } from './framing/framing';
export type {
  Framing,
  FramingFactory,
  FramingOption,
  FrameLength,
  FrameScanner,
  LengthFraming,
  ScanFraming,
} from './framing/framing';
export { MessageAssembler, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_HEADER_BYTES } from './framing/assembler';
export type { MessageAssemblerOptions } from './framing/assembler';
export { lengthField } from './framing/length-field';
export type { LengthFieldOptions, LengthFieldFraming, LengthSize } from './framing/length-field';
export { varint } from './framing/varint';
export type { VarintOptions } from './framing/varint';
export { delimited } from './framing/delimiter';
export type { DelimitedOptions } from './framing/delimiter';
export { lines } from './framing/lines';
export type { LinesOptions, LinesFraming } from './framing/lines';
export { fixedSize } from './framing/fixed';
export { contentLength } from './framing/content-length';
export type { ContentLengthOptions, ContentLengthFraming } from './framing/content-length';

export { jsonRpc, jsonSerializer, RpcError, RPC_CODES, JSON_RPC_DEFAULTS } from './rpc/json-rpc';
export type {
  JsonRpc,
  JsonRpcOptions,
  HeartbeatOptions,
  RpcSerializer,
  CallOptions,
  HandleOptions,
  HandlerContext,
  RpcHandler,
  UntypedApi,
  ApiOf,
  MethodName,
  ParamsOf,
  ResultOf,
  CallArgs,
  NotifyArgs,
} from './rpc/json-rpc';
export { DEFAULT_HANDSHAKE_TIMEOUT } from './rpc/handshake';
export type { HandshakeCall, HandshakeConnection } from './rpc/handshake';

export { Connection } from './connection';
export type { CloseReason, CloseKind, UnsentCounts } from './close-reason';
export type { ConnectionEvents, ConnectionStats } from './connection';
export { WRITE_HIGH_WATER_MARK } from './payload';
export type { Payload } from './payload';
export type { ServerAdapter, AdapterHooks } from './adapters/adapter';
export { NodeClusterAdapter, CLUSTER_ADAPTER_DEFAULTS } from './adapters/cluster';
export type { NodeClusterAdapterOptions, ClusterRelay, ClusterRelayOptions } from './adapters/cluster';
export { SocketServer } from './server/socket-server';
export type { ServerEvents, DropInfo, ServerStats, ServerState } from './server/socket-server';
export type { CloseOptions } from './options';
export type { ServerPeer } from './peer';
export { StreamServer, STREAM_SERVER_DEFAULTS } from './server/stream-server';
export type { StreamServerOptions, StreamServerStats } from './server/stream-server';
export { TcpServer } from './server/tcp-server';
export type { TcpServerOptions, TcpListenOptions, TcpAddress } from './server/tcp-server';
export { TLS_SERVER_DEFAULTS, TLS_SERVER_PASSTHROUGH, TlsServer } from './server/tls-server';
export type { TlsServerOptions } from './server/tls-server';
export { IpcServer } from './server/ipc-server';
export type { IpcServerOptions, IpcListenOptions, IpcAddress } from './server/ipc-server';
export { UdpServer, UDP_SERVER_DEFAULTS } from './server/udp-server';
export type { UdpServerOptions, UdpListenOptions, UdpAddress, UdpServerStats } from './server/udp-server';
export { UdpPeer } from './udp-peer';
export type { UdpPeerEvents, UdpPeerStats } from './udp-peer';
export { MAX_UDP4_DATAGRAM, MAX_UDP6_DATAGRAM } from './datagram';
export type { UdpType } from './datagram';
export type { LoggerOption } from './logger';
export { SocketClient } from './client/socket-client';
export type { ClientEvents, ReconnectingInfo, ClientStats } from './client/socket-client';
export type { TrafficStats } from './traffic-stats';
export { StreamClient, STREAM_CLIENT_DEFAULTS, RECONNECT_DEFAULTS } from './client/stream-client';
export type { StreamClientOptions, ReconnectOptions, StreamClientStats } from './client/stream-client';
export { TcpClient } from './client/tcp-client';
export type { TcpClientOptions } from './client/tcp-client';
export { TLS_CLIENT_PASSTHROUGH, TlsClient } from './client/tls-client';
export type { TlsClientOptions } from './client/tls-client';
export { IpcClient } from './client/ipc-client';
export type { IpcClientOptions } from './client/ipc-client';
export { UdpClient } from './client/udp-client';
export type { UdpClientOptions, UdpClientStats, UdpEndpoint } from './client/udp-client';
export type { RpcTraceContext, AdapterChannelMessage } from './diagnostics';
