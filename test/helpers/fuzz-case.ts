import { BUCKET_OPS, OBJECT_OPS, buildOp, versionsOf, type Op, type Target, type User, type World } from './fuzz-ops.js'
import type { WireBytes } from './fuzz-tamper.js'
import { md5Base64, serialize, setHeader, type WireRequest } from './wire.js'

/**
 * One generated request and what the store may do about it, with the pieces every family of the
 * fuzzer shares: which requests the seeded policies and ACLs refuse for sure, targets, and
 * request rewriting. `mustNotChange` cases were generated as unauthorized or malformed;
 * `mustFail` ones must be answered with an error.
 */

export interface FuzzCase {
  family: string
  label: string
  method: string
  bytes: Buffer
  mustNotChange: boolean
  mustFail: boolean
  /** A pristine request by a user allowed to make it, in a state where it works: must succeed. */
  mustSucceed?: boolean
  halfClose?: boolean
  destroy?: boolean
  mayDrop?: boolean
}

/** Buckets whose contents only the owner's valid requests may change; fuzz-plain is the scratch bucket. */
export const PROTECTED = ['fuzz-ver', 'bob-own']
export const PRIVATE_KEYS = ['a.txt', 'gone.txt', 'enc', 'ssec', 'canary', 'mp']

/** Whether `user` is refused `op` on the target for sure, given the seeded policies and ACLs. */
export function denied (user: User, op: Op, t: Target): boolean {
  if (t.bucket === 'bob-own') return user !== 'bob'
  if (t.bucket !== 'fuzz-ver' || user === 'alice') return false
  if (user === 'anonymous') {
    if (op.mutating) return true
    // (bob's uploads under drop/ carry whatever ACL he gave them)
    return !((op.name === 'GetObject' || op.name === 'HeadObject') && (t.key.startsWith('public/') || t.key.startsWith('drop/')))
  }
  if (op.mutating) {
    if (t.key.startsWith('drop/')) return op.name === 'DeleteObject'
    return true
  }
  return ((op.name === 'GetObject' || op.name === 'HeadObject') && PRIVATE_KEYS.includes(t.key)) || op.name === 'GetBucketPolicy'
}

export function keysOf (w: World, bucket: string): string[] {
  return [...new Set(versionsOf(w, bucket).map(v => v.key))]
}

export function objectTarget (w: World, bucket: string, extra: string[] = []): Target {
  const keys = [...keysOf(w, bucket), ...extra]
  return { bucket, key: keys.length === 0 ? 'k' : w.rand.pick(keys) }
}

export function anyTarget (w: World, level: 'object' | 'bucket'): Target {
  const bucket = w.rand.pick(['fuzz-ver', 'fuzz-ver', 'fuzz-plain', 'bob-own', 'no-such-bucket'])
  return level === 'bucket' ? { bucket, key: '' } : objectTarget(w, bucket, ['new-key', 'drop/x', 'dir/'])
}

export function anyOp (w: World): { op: Op, t: Target } {
  const level = w.rand.weighted([[60, 'object'], [37, 'bucket'], [3, 'service']] as const)
  if (level === 'service') return { op: buildOp(w, 'ListBuckets', { bucket: '', key: '' }), t: { bucket: '', key: '' } }
  const t = anyTarget(w, level)
  const name = w.rand.pick(Object.keys(level === 'object' ? OBJECT_OPS : BUCKET_OPS))
  return { op: buildOp(w, name, t), t }
}

export function finish (w: World, family: string, label: string, req: WireRequest, flags: Omit<FuzzCase, 'family' | 'label' | 'method' | 'bytes'>): FuzzCase {
  return { family, label, method: req.method, bytes: serialize(req, w.host), ...flags }
}

/** Replaces an op's document (recomputing Content-MD5 when the op sends one, so the body reaches the parser). */
export function withBody (op: Op, body: Buffer): Op {
  const md5 = op.req.headers.some(([n]) => n === 'content-md5')
  const req = { ...op.req, body }
  return { ...op, req: md5 ? setHeader(req, 'content-md5', md5Base64(body)) : req }
}

export function withHeaders (op: Op, headers: Array<[string, string]>): Op {
  let req = op.req
  for (const [n, v] of headers) req = setHeader(req, n, v)
  return { ...op, req }
}

/** The CID of a stored version, for /ipfs/ copy sources. */
export function liveCid (w: World): string {
  const cids = w.state.buckets.flatMap(b => b.versions).filter(v => !v.deleteMarker && v.encryption === undefined).map(v => v.cid)
  return cids.length > 0 ? w.rand.pick(cids) : 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
}

export function fromWire (w: World, family: string, b: WireBytes, flags: { mustNotChange: boolean, mustFail: boolean }): FuzzCase {
  const method = /^(\S+)/.exec(b.bytes.toString('latin1', 0, 20))?.[1] ?? 'GET'
  return { family, label: b.label, method, bytes: b.bytes, halfClose: b.halfClose, destroy: b.destroy, mayDrop: b.mayDrop, ...flags }
}

/** The request `serialize` wrote, read back (so a twist can re-frame it). */
export function parseBack (bytes: Buffer): WireRequest {
  const end = bytes.indexOf('\r\n\r\n')
  const lines = bytes.toString('latin1', 0, end).split('\r\n')
  const [method, target] = lines[0].split(' ')
  const q = target.indexOf('?')
  const headers = lines.slice(1).map(l => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string])
    .filter(([n]) => !['host', 'content-length', 'connection'].includes(n.toLowerCase()))
  return { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1), headers, body: bytes.subarray(end + 4) }
}
