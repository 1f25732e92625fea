import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import { AppConfig } from '../config/app-config.js';
import type { TrustProxy } from '../config/trust-proxy.js';

/** Whether the hop at `address`, `hop` steps from this server, may name the one before it. */
export type TrustFunction = (address: string, hop: number) => boolean;

/**
 * The client's address for every door (REST, Engine.IO, namespace handshakes): the peer or,
 * through the proxies `TRUST_PROXY` trusts, the right-most `X-Forwarded-For` entry that no
 * trusted proxy added, exactly as Express derives `req.ip`. Entries further left are whatever
 * the client sent and are never used.
 */
@Injectable()
export class ClientAddresses {
  /** The rule in the form Express's `trust proxy` setting takes, so `req.ip` agrees with `of()`. */
  readonly trust: TrustFunction;
  private readonly known = new WeakMap<IncomingMessage, string>();

  constructor(config: AppConfig) {
    this.trust = compileTrust(config.server.trustProxy);
  }

  /** Derived once per request: a handshake asks at the transport, then at each namespace. */
  of(request: IncomingMessage): string {
    let address = this.known.get(request);
    if (address === undefined) {
      address = this.derive(request);
      this.known.set(request, address);
    }
    return address;
  }

  private derive(request: IncomingMessage): string {
    try {
      return proxyAddr(request, this.trust);
    } catch {
      // The peer is gone (no remote address left to parse): nothing to trust or forward.
      return request.socket.remoteAddress ?? 'unknown';
    }
  }
}

function compileTrust(trust: TrustProxy): TrustFunction {
  switch (trust.kind) {
    case 'none':
      return () => false;
    case 'hops':
      return (_address, hop) => hop < trust.hops;
    case 'addresses':
      return proxyAddr.compile(trust.list);
  }
}
