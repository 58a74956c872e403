import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { PinningServiceConfig } from '../src/federation/index.js'
import { parseReplicasOption } from '../src/federation/replication.js'
import { nonEmpty, parseDuration, UsageError } from './args.js'
import { checkArchiveConfig } from '../src/archive/config.js'
import type { ServerOptions } from './server.js'

/** `--pinning-services FILE` (read and checked now), `--replicas`, `--pins-token`, `--admin-token`, `--no-workers`, `--archive FILE`. */
export function federationOptions (values: Record<string, string | boolean | string[] | undefined>, env: NodeJS.ProcessEnv): Partial<ServerOptions> {
  const file = (values['pinning-services'] as string | undefined) ?? nonEmpty(env.S3IPFS_PINNING_SERVICES)
  const replicas = (values.replicas as string | undefined) ?? nonEmpty(env.S3IPFS_REPLICAS)
  let pinningServices: PinningServiceConfig[] | undefined
  if (file !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(resolve(file), 'utf8'))
    } catch (err) {
      throw new UsageError(`Cannot read the pinning services file "${file}": ${(err as Error).message}`)
    }
    const valid = Array.isArray(parsed) && parsed.every((s: Partial<PinningServiceConfig>) =>
      typeof s === 'object' && s !== null && typeof s.name === 'string' && s.name !== '' && typeof s.endpoint === 'string' && /^https?:\/\/[^/]/.test(s.endpoint) && typeof s.token === 'string')
    if (!valid) throw new UsageError(`The pinning services file "${file}" must hold a JSON list of { "name", "endpoint" (http(s) URL), "token" }`)
    pinningServices = parsed as PinningServiceConfig[]
  }
  if (replicas !== undefined) {
    try {
      parseReplicasOption(replicas)
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
  }
  const workersEnv = nonEmpty(env.S3IPFS_WORKERS)
  const rateText = (values['scrub-rate'] as string | undefined) ?? nonEmpty(env.S3IPFS_SCRUB_RATE)
  let scrub: ServerOptions['scrub']
  if (rateText !== undefined) {
    const m = /^(\d+(?:\.\d+)?)([KMG]i?B?)?$/i.exec(rateText.trim())
    if (m === null) throw new UsageError(`Invalid scrub rate "${rateText}"; expected bytes per second, e.g. 33554432 or 32M`)
    const unit = (m[2] ?? '').toUpperCase()[0]
    const bytesPerSecond = Number(m[1]) * (unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1)
    const intervalText = nonEmpty(env.S3IPFS_SCRUB_INTERVAL)
    if (bytesPerSecond > 0) scrub = { bytesPerSecond, intervalMs: intervalText === undefined ? undefined : parseDuration(intervalText) }
  }
  return {
    archive: archiveOption(values, env),
    scrub,
    pinningServices,
    replicas,
    pinsToken: (values['pins-token'] as string | undefined) ?? nonEmpty(env.S3IPFS_PINS_TOKEN),
    adminToken: (values['admin-token'] as string | undefined) ?? nonEmpty(env.S3IPFS_ADMIN_TOKEN),
    jobLeaseMs: nonEmpty(env.S3IPFS_JOB_LEASE) === undefined ? undefined : parseDuration(env.S3IPFS_JOB_LEASE as string),
    workers: values['no-workers'] === true ? false : workersEnv === undefined ? undefined : !['0', 'false', 'off', 'no'].includes(workersEnv),
  }
}

/** `--archive FILE` / S3IPFS_ARCHIVE: the archive target's JSON configuration, read now (checked when the target is made). */
function archiveOption (values: Record<string, string | boolean | string[] | undefined>, env: NodeJS.ProcessEnv): unknown {
  const file = (values.archive as string | undefined) ?? nonEmpty(env.S3IPFS_ARCHIVE)
  if (file === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(resolve(file), 'utf8'))
  } catch (err) {
    throw new UsageError(`Cannot read the archive configuration file "${file}": ${(err as Error).message}`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`The archive configuration file "${file}" must hold a JSON object naming the target: { "type": "s3" | "storacha" | "pinning-service", ... }`)
  }
  try {
    checkArchiveConfig(parsed)
  } catch (err) {
    throw new UsageError(`The archive configuration file "${file}": ${(err as Error).message}`)
  }
  return parsed
}
