const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

/** Text that is already escaped XML (built from known-safe parts), emitted as it is. */
export class XmlText {
  constructor (readonly xml: string) {}
}

/** A value in an XML document: nested objects become elements, arrays repeat the element. */
export type XmlValue = string | number | boolean | Date | XmlText | undefined | null | XmlObject | XmlValue[]
export interface XmlObject { [name: string]: XmlValue }

// Markup characters, and characters XML 1.0 cannot carry literally (C0 controls other than tab and
// LF, lone surrogates, U+FFFE/U+FFFF): these become character references, as S3 writes them. CR is
// escaped too, since a parser would turn a literal CR into LF.
// eslint-disable-next-line no-control-regex
const MAY_NEED_ESCAPE = /[&<>"\u0000-\u0008\u000B-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/
// eslint-disable-next-line no-control-regex
const ESCAPE_ALL = /[&<>"\u0000-\u0008\u000B-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

function escapeChar (c: string): string {
  switch (c) {
    case '&': return '&amp;'
    case '<': return '&lt;'
    case '>': return '&gt;'
    case '"': return '&quot;'
    default: return `&#x${(c.codePointAt(0) as number).toString(16).toUpperCase()};`
  }
}

export function escapeXml (text: string): string {
  // The cheap test admits valid surrogate pairs too; the replace leaves those alone.
  return MAY_NEED_ESCAPE.test(text) ? text.replace(ESCAPE_ALL, escapeChar) : text
}

function text (value: string | number | boolean | Date | XmlText): string {
  if (typeof value === 'string') return escapeXml(value)
  if (value instanceof Date) return value.toISOString()
  if (value instanceof XmlText) return value.xml
  return String(value)
}

function element (name: string, value: XmlValue): string {
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) {
    let out = ''
    for (const item of value) out += element(name, item)
    return out
  }
  if (typeof value === 'object' && !(value instanceof Date) && !(value instanceof XmlText)) {
    let out = `<${name}>`
    for (const child in value) out += element(child, value[child])
    return out + `</${name}>`
  }
  const t = text(value)
  return t === '' ? `<${name}/>` : `<${name}>${t}</${name}>`
}

/**
 * Renders one S3 XML document. `root` gets the S3 namespace unless `namespace` is false (S3's
 * <Error> document has none). A string body becomes the root's text. Element names are the
 * constants of the S3 API, never user input; every text value is escaped.
 *
 * Written by hand rather than through a DOM builder: a 1,000-key listing page is built per request,
 * and a string join is an order of magnitude cheaper than building and serialising a tree.
 */
export function renderXml (root: string, body: XmlObject | string, options: { namespace?: boolean } = {}): Uint8Array {
  let out = DECLARATION + (options.namespace === false ? `<${root}>` : `<${root} xmlns="${S3_NS}">`)
  if (typeof body === 'string') {
    out += escapeXml(body)
  } else {
    for (const name in body) out += element(name, body[name])
  }
  return Buffer.from(out + `</${root}>`, 'utf8')
}
