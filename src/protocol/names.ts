import { S3Error } from '../errors.js'

export const MAX_KEY_BYTES = 1024

/** Amazon S3's general purpose bucket naming rules. */
export function isValidBucketName (name: string): boolean {
  if (name.length < 3 || name.length > 63) return false
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false
  if (name.includes('..')) return false
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return false
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return false
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return false
  return true
}

export function assertValidBucketName (name: string): void {
  if (!isValidBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name })
}

export function assertValidKey (key: string): void {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', undefined, { Size: String(Buffer.byteLength(key)), MaxSizeAllowed: String(MAX_KEY_BYTES) })
}
