import { Decoder, Encoder } from 'socket.io-parser';

/**
 * Socket.IO's parser with one more bound: a packet's binary attachments together (with its
 * JSON part) stay within `maxPacketBytes`. Each attachment alone may reach the transport's
 * message limit, so without it a packet announcing ten attachments could hold ten times
 * `MAX_PAYLOAD_BYTES` per connection, before any authentication. A throw here makes Socket.IO
 * close that connection.
 */
export function boundedParser(maxPacketBytes: number): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  class BoundedDecoder extends Decoder {
    private packetBytes = 0;

    override add(chunk: unknown): void {
      if (typeof chunk === 'string') this.packetBytes = chunk.length;
      else this.packetBytes += byteLength(chunk);
      if (this.packetBytes > maxPacketBytes) {
        this.destroy();
        throw new Error(`Packet larger than ${maxPacketBytes} bytes with its attachments`);
      }
      super.add(chunk);
    }
  }
  return { Encoder, Decoder: BoundedDecoder };
}

function byteLength(chunk: unknown): number {
  if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) return chunk.byteLength;
  return 0;
}
