import { createHash, createHmac } from 'node:crypto'

/** node:crypto SHA-256 and HMAC-SHA256 in the shape @smithy/signature-v4's `sha256` constructor option takes. */
export class NodeSha256 {
  private readonly hash

  constructor (secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret == null ? createHash('sha256') : createHmac('sha256', typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret))
  }

  update (data: Uint8Array): void { this.hash.update(data) }
  async digest (): Promise<Uint8Array> { return new Uint8Array(this.hash.digest()) }
}
