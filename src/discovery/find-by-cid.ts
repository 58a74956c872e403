import { S3Error } from '../errors.js'
import type { Authorizer } from '../auth/authorize.js'
import type { CidMatch, MetadataStore } from '../metadata/metadata-store.js'
import { parseAnyCid } from '../content/cid-text.js'

/** What `GET /-/cids/<cid>` answers. */
export interface FindByCidResult {
  /** The CID asked for, in its canonical string form (CIDv0 as base58btc, CIDv1 as base32). */
  cid: string
  /** Versions holding the CID in buckets the caller may list, ordered by bucket, key and version id. */
  objects: CidMatch[]
  /** Present when there may be more: pass it as `continuation-token` for the next page. */
  nextContinuationToken?: string
}

export interface FindByCidInit {
  metadata: Pick<MetadataStore, 'listVersionsByCid'>
  /** The caller's: a bucket's matches are shown only when it allows s3:ListBucket there. */
  authorizer: Pick<Authorizer, 'allowed' | 'bucket'>
  signal?: AbortSignal
}

export const MAX_RESULTS = 1000

/**
 * Store reads per page at most. Matches in buckets the caller may not list are skipped a bucket at
 * a time (one seek each); a page that meets more such buckets than this ends early, with a token.
 */
const MAX_READS = 20

type Position = NonNullable<Parameters<MetadataStore['listVersionsByCid']>[1]['after']>

/**
 * Which object versions hold `cidText`, among the buckets the caller may list (s3:ListBucket,
 * decided as for ListObjects: owner, bucket policy, ACL, identity policies). Matches elsewhere are
 * never shown, nor counted. `query` may carry `max-results` (1..1000, default 1000) and
 * `continuation-token` (from the previous page). A page may hold fewer objects than asked for and
 * still have a token. Bad input: S3Error InvalidArgument.
 */
export async function findByCid (init: FindByCidInit, cidText: string, query: URLSearchParams): Promise<FindByCidResult> {
  const cid = normalizeCid(cidText)
  const max = maxResults(query.get('max-results'))
  const token = query.get('continuation-token')
  let after = token === null ? undefined : positionOf(token)
  const objects: CidMatch[] = []
  const listable = new Map<string, boolean>()
  const mayList = async (bucket: string): Promise<boolean> => {
    let allowed = listable.get(bucket)
    if (allowed === undefined) {
      // A bucket gone meanwhile grants nothing (the authorizer lets any signed caller "create" it).
      allowed = await init.authorizer.bucket(bucket) !== undefined && await init.authorizer.allowed('s3:ListBucket', bucket, undefined)
      listable.set(bucket, allowed)
    }
    return allowed
  }

  for (let reads = 0; reads < MAX_READS; reads++) {
    // One more than the page needs: whether anything follows is known without another read.
    const want = max - objects.length + 1
    const page = await init.metadata.listVersionsByCid(cid, { after, limit: want, signal: init.signal })
    let skipped = false
    for (const match of page) {
      if (!await mayList(match.bucket)) {
        // Past every match in this bucket: no bucket name holds U+0000.
        after = { bucket: `${match.bucket}\0`, key: '', versionId: '' }
        skipped = true
        break
      }
      // A match the caller may see follows a full page: there is a next page.
      if (objects.length === max) return { cid, objects, nextContinuationToken: tokenOf(after as Position) }
      objects.push(match)
      after = { bucket: match.bucket, key: match.key, versionId: match.versionId }
    }
    if (!skipped && page.length < want) return { cid, objects }
  }
  return after === undefined ? { cid, objects } : { cid, objects, nextContinuationToken: tokenOf(after) }
}


/** The canonical string of a CID given in any multibase (CIDv0 stays base58btc, CIDv1 becomes base32). */
export function normalizeCid (text: string): string {
  try {
    return parseAnyCid(text).toString()
  } catch {
    throw new S3Error('InvalidArgument', `Not a CID: ${JSON.stringify(text.slice(0, 100))}`, { ArgumentName: 'cid' })
  }
}

function maxResults (text: string | null): number {
  if (text === null) return MAX_RESULTS
  const n = /^\d{1,7}$/.test(text) ? Number(text) : NaN
  if (!(n >= 1)) throw new S3Error('InvalidArgument', 'max-results must be an integer from 1 to 1000', { ArgumentName: 'max-results', ArgumentValue: text })
  return Math.min(n, MAX_RESULTS)
}

function tokenOf (position: Position): string {
  return Buffer.from(JSON.stringify([position.bucket, position.key, position.versionId])).toString('base64url')
}

function positionOf (token: string): Position {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
  } catch {}
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((part) => typeof part === 'string')) {
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
  }
  const [bucket, key, versionId] = parsed as [string, string, string]
  return { bucket, key, versionId }
}
