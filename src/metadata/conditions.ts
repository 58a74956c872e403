import type { WriteCondition } from './metadata-store.js'
import { conditionFailed } from './metadata-store.js'

/**
 * For stores, inside the write's transaction: throws `conditionFailed` unless `condition` holds for
 * the key's latest version `latest` (undefined when the key has none).
 */
export function checkCondition (condition: WriteCondition | undefined, bucket: string, key: string,
  latest: { deleteMarker: boolean, etag: string } | undefined): void {
  if (condition === undefined) return
  const exists = latest !== undefined && !latest.deleteMarker
  const holds = condition.current === 'none'
    ? !exists
    : exists && (condition.etags === undefined || condition.etags.includes(latest.etag))
  if (!holds) throw conditionFailed(bucket, key, condition.current, latest)
}
