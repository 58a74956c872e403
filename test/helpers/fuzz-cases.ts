import { fromWire, parseBack, type FuzzCase } from './fuzz-case.js'
import { ownerMalformed } from './fuzz-malformed.js'
import type { World } from './fuzz-ops.js'
import { readFuzz } from './fuzz-reads.js'
import { scratch } from './fuzz-scratch.js'
import { badSignature, unauthorized } from './fuzz-signatures.js'
import { garbageRequest, httpTwist } from './fuzz-tamper.js'

export type { FuzzCase } from './fuzz-case.js'

/**
 * The fuzzer's request generator. Families: broken signatures, requests no permission allows,
 * the owner's definitely malformed requests, reads of every kind, HTTP framing twists on any of
 * those (they must change nothing), and the scratch family (anything valid may happen).
 */

/** A must-not-change request re-framed on the wire (chunked, truncated, oversize headers, ...), or bytes that are no request. */
async function httpLevel (w: World): Promise<FuzzCase> {
  if (w.rand.chance(0.15)) return fromWire(w, 'http', garbageRequest(w.rand, w.host), { mustNotChange: true, mustFail: true })
  const base = await w.rand.pick([badSignature, unauthorized, readFuzz])(w)
  const req = parseBack(base.bytes)
  const twist = httpTwist(w.rand, req, w.host)
  return fromWire(w, 'http', { ...twist, label: `${base.label} | ${twist.label}` }, {
    mustNotChange: true,
    mustFail: twist.fails === true || (base.mustFail && twist.changesMeaning !== true),
  })
}

/** The next case: mostly must-not-change families, then scratch, as the phase asks. */
export async function nextCase (w: World, phase: 'guarded' | 'scratch'): Promise<FuzzCase> {
  if (phase === 'scratch') return await scratch(w)
  const family = w.rand.weighted([[5, badSignature], [5, unauthorized], [7, ownerMalformed], [4, readFuzz], [3, httpLevel]] as const)
  return await family(w)
}
