import { bases } from 'multiformats/basics'
import type { MultibaseDecoder } from 'multiformats/bases/interface'
import { CID } from 'multiformats/cid'

/** Multibase decoders by prefix: a CID string may be in any base multiformats knows. */
const DECODERS = new Map<string, MultibaseDecoder<string>>(Object.values(bases).map(b => [b.prefix, b.decoder as MultibaseDecoder<string>]))

/**
 * A CID as a client may write it: a CIDv0 (`Qm...`), or a CIDv1 in any multibase multiformats
 * knows (base32 in either case, base58btc, base36, base64url, ...). Throws on anything else.
 */
export function parseAnyCid (text: string): CID {
  if (text.startsWith('Q')) return CID.parse(text)
  const decoder = DECODERS.get(String.fromCodePoint(text.codePointAt(0) ?? 0))
  if (decoder === undefined) throw new TypeError('Unknown multibase prefix')
  return CID.parse(text, decoder)
}
