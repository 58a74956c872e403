import { create } from 'xmlbuilder2'

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'

/** A value in an XML document: nested objects become elements, arrays repeat the element. */
export type XmlValue = string | number | boolean | Date | undefined | null | XmlObject | XmlValue[]
export interface XmlObject { [name: string]: XmlValue }

function text (value: string | number | boolean | Date): string {
  return value instanceof Date ? value.toISOString() : String(value)
}

function append (parent: ReturnType<typeof create>, name: string, value: XmlValue): void {
  if (value === undefined || value === null) return
  if (Array.isArray(value)) {
    for (const item of value) append(parent, name, item)
    return
  }
  const el = parent.ele(name)
  if (typeof value === 'object' && !(value instanceof Date)) {
    for (const [child, v] of Object.entries(value)) append(el, child, v)
  } else {
    el.txt(text(value))
  }
}

/**
 * Renders one S3 XML document. `root` gets the S3 namespace unless `namespace` is false (S3's
 * <Error> document has none).
 */
export function renderXml (root: string, body: XmlObject | string, options: { namespace?: boolean } = {}): Uint8Array {
  const doc = create({ version: '1.0', encoding: 'UTF-8' })
  const el = options.namespace === false ? doc.ele(root) : doc.ele(S3_NS, root)
  if (typeof body === 'string') {
    if (body !== '') el.txt(body)
  } else {
    for (const [name, value] of Object.entries(body)) append(el, name, value)
  }
  return Buffer.from(doc.end({ prettyPrint: false }), 'utf8')
}
