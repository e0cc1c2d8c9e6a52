// The parts of the untyped peer packages that the benchmarks use.

declare module 'length-prefixed-stream' {
  import type { Transform } from 'node:stream';
  export function encode(): Transform;
  export function decode(options?: { limit?: number; allowEmpty?: boolean }): Transform;
}

declare module '@achrinza/node-ipc' {
  import type { Server as NetServer, Socket } from 'node:net';

  interface IpcConfig {
    silent: boolean;
    maxConnections: number;
    stopRetrying: boolean;
    maxRetries: number;
    retry: number;
    networkHost: string;
    networkPort: number;
    id: string;
    unlink: boolean;
  }
  interface IpcServer {
    server: NetServer;
    sockets: Socket[];
    start(): void;
    stop(): void;
    on(event: 'message', listener: (data: string, socket: Socket) => void): void;
    on(event: 'connect' | 'close', listener: (socket: Socket) => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    emit(socket: Socket, type: string, data: string): void;
  }
  interface IpcClient {
    socket: Socket;
    on(event: 'message', listener: (data: string) => void): void;
    on(event: 'connect' | 'disconnect' | 'destroy', listener: () => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    emit(type: string, data: string): void;
  }
  export class IPCModule {
    config: IpcConfig;
    of: Record<string, IpcClient | undefined>;
    server: IpcServer;
    serveNet(host: string, port: number, callback: () => void): void;
    serve(path: string, callback: () => void): void;
    connectTo(id: string, path: string, callback?: () => void): void;
    connectToNet(id: string, host: string, port: number, callback?: () => void): void;
    disconnect(id: string): void;
  }
}
