import { brokenPolicy, brokenXml, formBody, mutateBytes } from './fuzz-bodies.js'
import { formParts, formRequest } from './fuzz-forms.js'
import { authenticate, pickMode, type AuthMode, type World } from './fuzz-ops.js'
import { PROTECTED, anyOp, denied, finish, withBody, type FuzzCase } from './fuzz-case.js'
import { tamperHeaderAuth, tamperPresigned } from './fuzz-tamper.js'
import type { WireRequest } from './wire.js'

/** Fuzz families: signatures that do not verify, and valid signatures of users without permission. */

export async function badSignature (w: World): Promise<FuzzCase> {
  const user = w.rand.pick(['alice', 'bob'] as const)
  const { op } = anyOp(w)
  const kind = w.rand.weighted([[6, 'header'], [3, 'presign'], [1, 'wrong-secret'], [1, 'unknown-key'], [1, 'skew'], [1, 'expired'], [1, 'not-yet'], [1, 'region']] as const)
  const mode = pickMode(w.rand, op, user)
  const headerMode: AuthMode = mode === 'presign' ? 'sha256' : mode
  let label: string
  let req: WireRequest
  switch (kind) {
    case 'header': {
      const tampered = tamperHeaderAuth(w.rand, (await authenticate(w, op, user, headerMode)).req)
      label = tampered.label
      req = tampered.req
      break
    }
    case 'presign': {
      const tampered = tamperPresigned(w.rand, (await authenticate(w, op, user, 'presign')).req)
      label = tampered.label
      req = tampered.req
      break
    }
    case 'wrong-secret':
      label = 'sig: wrong secret'
      req = (await authenticate(w, op, user, mode, { signer: { secretAccessKey: 'not-the-secret' } })).req
      break
    case 'unknown-key':
      label = 'sig: unknown access key'
      req = (await authenticate(w, op, user, mode, { signer: { accessKeyId: w.rand.pick(['NOBODYKEY', 'alicekey', 'ALICEKEY ', '']) } })).req
      break
    case 'skew':
      label = 'sig: clock skew'
      req = (await authenticate(w, op, user, headerMode, { date: new Date(Date.now() + (w.rand.chance(0.5) ? 1 : -1) * (16 + w.rand.int(10000)) * 60_000) })).req
      break
    case 'expired':
      label = 'presign: expired'
      req = (await authenticate(w, op, user, 'presign', { date: new Date(Date.now() - 2 * 3600_000) })).req
      break
    case 'not-yet':
      label = 'presign: not yet valid'
      req = (await authenticate(w, op, user, 'presign', { date: new Date(Date.now() + 3600_000) })).req
      break
    case 'region':
      label = 'sig: other region'
      req = (await authenticate(w, op, user, mode, { signer: { region: 'eu-west-1' } })).req
      break
  }
  return finish(w, 'bad-signature', `${op.name} ${label}`, req, { mustNotChange: true, mustFail: true })
}

export async function unauthorized (w: World): Promise<FuzzCase> {
  for (;;) {
    const user = w.rand.weighted([[5, 'bob'], [4, 'anonymous'], [2, 'alice']] as const)
    const { op, t } = anyOp(w)
    if (t.bucket === '' || !denied(user, op, t)) {
      if (w.rand.chance(0.15) && user !== 'alice') return await unauthorizedForm(w, user)
      continue
    }
    let changed = op
    let label = `${user} ${op.name} ${t.bucket}/${t.key}`
    if (op.doc !== undefined && w.rand.chance(0.4)) {
      const broken = op.doc.kind === 'json' ? brokenPolicy(w.rand, t.bucket) : brokenXml(w.rand, op.doc.text)
      changed = withBody(op, broken.body)
      label += ` (${broken.label})`
    } else if (op.doc !== undefined && w.rand.chance(0.3)) {
      changed = withBody(op, mutateBytes(w.rand, op.req.body))
      label += ' (mutated body)'
    }
    const authed = await authenticate(w, changed, user, pickMode(w.rand, changed, user))
    // DeleteObjects answers 200 with an error per key it may not delete.
    return finish(w, 'unauthorized', `${label} [${authed.mode}]`, authed.req, { mustNotChange: true, mustFail: op.name !== 'DeleteObjects' })
  }
}

async function unauthorizedForm (w: World, user: 'bob' | 'anonymous'): Promise<FuzzCase> {
  const bucket = w.rand.pick(user === 'bob' ? ['fuzz-ver', 'bob-own'] : PROTECTED)
  const key = user === 'bob' && bucket === 'fuzz-ver' ? w.rand.pick(['a.txt', 'canary', 'new']) : w.rand.pick(['a.txt', 'drop/x', 'public/new'])
  if (user === 'bob' && bucket === 'bob-own') {
    // Signed by bob, posted to alice's bucket? No: signed by alice for bob's bucket.
    const req = formRequest(bucket, formBody(formParts(w, { user: 'alice', bucket, key })))
    return finish(w, 'unauthorized', `alice form to ${bucket}/${key}`, req, { mustNotChange: true, mustFail: true })
  }
  const req = formRequest(bucket, formBody(formParts(w, { user, bucket, key })))
  return finish(w, 'unauthorized', `${user} form to ${bucket}/${key}`, req, { mustNotChange: true, mustFail: true })
}
