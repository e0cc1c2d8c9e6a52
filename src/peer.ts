/** The minimum a peer (a Connection, a UdpPeer) offers the server it belongs to. */
export interface ServerPeer {
  readonly id: number | string;
  readonly isOpen: boolean;
}
