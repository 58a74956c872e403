import { S3Error } from '../errors.js'

export interface CopySource {
  bucket: string
  key: string
  versionId?: string
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, URL-encoded. */
export function parseCopySource (header: string): CopySource {
  const q = header.indexOf('?')
  const path = (q < 0 ? header : header.slice(0, q)).replace(/^\//, '')
  let versionId: string | undefined
  if (q >= 0) {
    const params = new URLSearchParams(header.slice(q + 1))
    versionId = params.get('versionId') ?? undefined
  }
  const slash = path.indexOf('/')
  if (slash <= 0 || slash === path.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source', ArgumentValue: header })
  }
  try {
    return { bucket: decodeURIComponent(path.slice(0, slash)), key: decodeURIComponent(path.slice(slash + 1)), versionId }
  } catch {
    throw new S3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source', ArgumentValue: header })
  }
}
