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

/** Each target type: its configuration checked (a TypeError naming the field), and the target made from it. */
const TYPES: Record<string, { check: (config: unknown) => unknown, make: (config: unknown, context: ArchiveTargetContext) => ArchiveTarget }> = {
  s3: { check: parseS3ArchiveConfig, make: (config) => new S3ArchiveTarget(parseS3ArchiveConfig(config)) },
  storacha: { check: parseStorachaArchiveConfig, make: (config) => new StorachaArchiveTarget(parseStorachaArchiveConfig(config)) },
  'pinning-service': {
    check: parsePinningArchiveConfig,
    make: (config, context) => {
      const parsed = parsePinningArchiveConfig(config)
      if (context.ipfs === undefined) throw new TypeError('A pinning-service archive target needs the gateway\'s IPFS node (--ipfs-listen): the service fetches the content from it')
      return new PinningArchiveTarget(parsed, context.ipfs)
    },
  },
}

function typeOf (config: unknown): (typeof TYPES)[string] {
  const type = typeof config === 'object' && config !== null ? (config as { type?: unknown }).type : undefined
  const found = typeof type === 'string' && Object.hasOwn(TYPES, type) ? TYPES[type] : undefined
  if (found === undefined) throw new TypeError(`The archive configuration's "type" must be one of ${Object.keys(TYPES).map(t => `"${t}"`).join(', ')}`)
  return found
}

/** Checks a configuration as `createArchiveTarget` will, without making the target: a TypeError naming the bad field. */
export function checkArchiveConfig (config: unknown): void {
  typeOf(config).check(config)
}

/**
 * The archive target a JSON configuration names (`serve --archive FILE`, `S3IPFS_ARCHIVE`):
 * `{ "type": "s3", "endpoint", "bucket", "region", "accessKeyId", "secretAccessKey", ... }`,
 * `{ "type": "pinning-service", "endpoint", "token", ... }` or `{ "type": "storacha", "key", "proof", ... }`.
 * A bad configuration throws a TypeError naming the field (never a secret's value).
 */
export function createArchiveTarget (config: unknown, context: ArchiveTargetContext = {}): ArchiveTarget {
  return typeOf(config).make(config, context)
}
