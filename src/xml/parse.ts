import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { S3Error } from '../errors.js'

/**
 * The largest XML request body we parse: S3's DeleteObjects of 1000 keys of 1024 bytes fits, even
 * with every key's characters escaped as entities (`&amp;` is five bytes for one).
 */
export const MAX_XML_BYTES = 8 * 1024 * 1024

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: false,
  // XML's five named entities and numeric character references (&#34; &#x1F600;), decoded in one
  // pass. (The option also knows HTML's named entities; parseXml rejects those before parsing,
  // since XML does not define them.)
  processEntities: true,
  htmlEntities: true,
  isArray: () => true,
})

/** An `&` that starts no reference XML defines (a CDATA section's text is literal). */
const UNDEFINED_ENTITY = /&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/
const CDATA = /<!\[CDATA\[[\s\S]*?\]\]>/g

/** A parsed element: child element name -> list of occurrences; text under '#text'. */
export interface XmlNode { [name: string]: XmlNode[] | string }

/**
 * Parses a small XML request body. Anything not well-formed, or carrying a DOCTYPE (entity expansion
 * and external entities), is MalformedXML. Returns the root element named `root`.
 */
export function parseXml (bytes: Uint8Array, root: string, maxBytes = MAX_XML_BYTES): XmlNode {
  if (bytes.byteLength > maxBytes) throw new S3Error('MalformedXML')
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new S3Error('MalformedXML')
  if (UNDEFINED_ENTITY.test(text.replace(CDATA, ''))) throw new S3Error('MalformedXML')
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML')
  let doc: Record<string, unknown>
  try {
    doc = parser.parse(text) as Record<string, unknown>
  } catch {
    throw new S3Error('MalformedXML')
  }
  const top = doc[root]
  if (!Array.isArray(top) || top.length !== 1) throw new S3Error('MalformedXML')
  const node = top[0]
  return (typeof node === 'object' && node !== null ? node : {}) as XmlNode
}

/** Child elements of a node by name (always an array). */
export function children (node: XmlNode, name: string): XmlNode[] {
  const value = node[name]
  if (!Array.isArray(value)) return []
  return value.map(v => (typeof v === 'object' && v !== null ? v : { '#text': String(v) }) as XmlNode)
}

/** Text of the single child `name`, or undefined when absent. More than one → MalformedXML. */
export function childText (node: XmlNode, name: string): string | undefined {
  const list = node[name]
  if (list === undefined) return undefined
  if (!Array.isArray(list) || list.length !== 1) throw new S3Error('MalformedXML')
  const v = list[0] as unknown
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (typeof v === 'object' && v !== null) {
    const t = (v as XmlNode)['#text']
    if (t === undefined) return ''
    if (Array.isArray(t)) return t.map(String).join('')
    return String(t)
  }
  return ''
}
