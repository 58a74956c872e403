import { randomBytes } from 'node:crypto'

/** A new snapshot id: the creation time (base 36, 9 characters, sorting as it counts up) and 8 random URL-safe characters. */
export function newSnapshotId (now: Date): string {
  return now.getTime().toString(36).padStart(9, '0') + randomBytes(6).toString('base64url')
}
