import type { IpfsPeer } from '../federation/index.js'
import { PinningArchiveTarget, parsePinningArchiveConfig } from './pinning-target.js'
import { S3ArchiveTarget, parseS3ArchiveConfig } from './s3-target.js'
import { StorachaArchiveTarget, parseStorachaArchiveConfig } from './storacha-target.js'
import type { ArchiveTarget } from './target.js'

/** What a target made from configuration may need of the gateway. */
export interface ArchiveTargetContext {
  /** The gateway's IPFS node: a pinning service fetches from it, and restores read through it. */
  ipfs?: IpfsPeer
}

const TYPES = ['s3', 'storacha', 'pinning-service']

/** Checks a configuration as `createArchiveTarget` will, without making the target: a TypeError naming the bad field. */
export function checkArchiveConfig (config: unknown): void {
  const type = typeof config === 'object' && config !== null ? (config as { type?: unknown }).type : undefined
  if (type === 's3') parseS3ArchiveConfig(config)
  else if (type === 'pinning-service') parsePinningArchiveConfig(config)
  else if (type === 'storacha') parseStorachaArchiveConfig(config)
  else throw new TypeError(`The archive configuration's "type" must be one of ${TYPES.map(t => `"${t}"`).join(', ')}`)
}

/**
 * The archive target a JSON configuration names (`serve --archive FILE`, `S3IPFS_ARCHIVE`):
 * `{ "type": "s3", "endpoint", "bucket", "region", "accessKeyId", "secretAccessKey", ... }`,
 * `{ "type": "pinning-service", "endpoint", "token", ... }` or `{ "type": "storacha", "key", "proof", ... }`.
 * A bad configuration throws a TypeError naming the field (never a secret's value).
 */
export async function createArchiveTarget (config: unknown, context: ArchiveTargetContext = {}): Promise<ArchiveTarget> {
  const type = typeof config === 'object' && config !== null ? (config as { type?: unknown }).type : undefined
  switch (type) {
    case 's3':
      return new S3ArchiveTarget(parseS3ArchiveConfig(config))
    case 'pinning-service': {
      const parsed = parsePinningArchiveConfig(config)
      if (context.ipfs === undefined) throw new TypeError('A pinning-service archive target needs the gateway\'s IPFS node (--ipfs-listen): the service fetches the content from it')
      return new PinningArchiveTarget(parsed, context.ipfs)
    }
    case 'storacha':
      return new StorachaArchiveTarget(parseStorachaArchiveConfig(config))
    default:
      throw new TypeError(`The archive configuration's "type" must be one of ${TYPES.map(t => `"${t}"`).join(', ')}`)
  }
}
