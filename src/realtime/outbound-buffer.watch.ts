import { Logger } from '@nestjs/common';
import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io';
import { guarded } from '../common/failure-log.js';

const SWEEP_INTERVAL_MS = 1000;

interface EngineSocketInternals {
  writeBuffer: { data?: unknown }[];
  transport: { socket?: { bufferedAmount?: number; terminate?: () => void } };
}

/**
 * Disconnects connections whose unsent output passed `MAX_OUTBOUND_BUFFER_BYTES`: a client that
 * stops reading would otherwise make the server hold everything sent to it. One sweep a second
 * over this instance's transport connections, instead of a check on every packet sent.
 */
export class OutboundBufferWatch {
  private readonly logger = new Logger('OutboundBuffer');
  private timer?: NodeJS.Timeout;
  private disconnectedTotal = 0;

  constructor(private readonly limitBytes: number) {}

  start(engine: EngineServer): void {
    const clients = (engine as unknown as { clients: Record<string, EngineSocket> }).clients;
    this.timer = setInterval(
      guarded('check outbound buffers', () => this.sweep(Object.values(clients))),
      SWEEP_INTERVAL_MS,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(connections: EngineSocket[]): void {
    let disconnected = 0;
    for (const connection of connections) {
      if (unsentBytes(connection) <= this.limitBytes) continue;
      disconnect(connection);
      disconnected += 1;
    }
    if (disconnected === 0) return;
    this.disconnectedTotal += disconnected;
    this.logger.warn(
      `Disconnected ${disconnected} connections with more than ${this.limitBytes} bytes unsent ` +
        `(clients that stopped reading; ${this.disconnectedTotal} since start)`,
    );
  }
}

/** Packets Engine.IO still holds, plus what the WebSocket has queued but the peer has not taken. */
function unsentBytes(connection: EngineSocket): number {
  const { writeBuffer, transport } = connection as unknown as EngineSocketInternals;
  let bytes = transport.socket?.bufferedAmount ?? 0;
  for (const packet of writeBuffer) {
    const { data } = packet;
    if (typeof data === 'string') bytes += data.length;
    else if (Buffer.isBuffer(data) || data instanceof ArrayBuffer) bytes += data.byteLength;
  }
  return bytes;
}

/** Closes at once, dropping what is queued: a graceful close would wait for the peer to read it. */
function disconnect(connection: EngineSocket): void {
  const { transport } = connection as unknown as EngineSocketInternals;
  connection.close(true);
  transport.socket?.terminate?.();
}
