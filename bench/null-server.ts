/**
 * The "limit" server: node:http doing as little as an S3 endpoint can. It checks no signature,
 * discards PUT bodies (remembering only their length per path), answers GET with that many zero
 * bytes (from one shared buffer, honouring backpressure), HEAD with the length, ListObjectsV2
 * with a fixed, prebuilt page of the same shape and size the real servers return, and the two
 * multipart POSTs (Create, Complete) with fixed documents (parts are PUTs like any other).
 *
 * Run as a child: node --import tsx bench/null-server.ts --port P [--host 127.0.0.1]
 */
import http from 'node:http'

function arg (name: string, dflt: string): string {
  const i = process.argv.indexOf(name)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt
}

const port = Number(arg('--port', '0'))
const host = arg('--host', '127.0.0.1')
const ZEROS = Buffer.alloc(1 << 20)
const ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
const LAST_MODIFIED = new Date().toUTCString()
const sizes = new Map<string, number>()

function listPage (contents: number, prefixes: number): Buffer {
  const parts: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
    '<Name>bench</Name><Prefix></Prefix>', `<KeyCount>${contents + prefixes}</KeyCount><MaxKeys>1000</MaxKeys>`,
    `<IsTruncated>${contents > 0 ? 'true' : 'false'}</IsTruncated>`]
  const now = new Date().toISOString()
  for (let i = 0; i < contents; i++) {
    const key = `dir-${String(Math.floor(i / 100)).padStart(4, '0')}/file-${String(i % 100).padStart(5, '0')}`
    parts.push(`<Contents><Key>${key}</Key><LastModified>${now}</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>8</Size><StorageClass>STANDARD</StorageClass></Contents>`)
  }
  for (let i = 0; i < prefixes; i++) {
    parts.push(`<CommonPrefixes><Prefix>dir-${String(i).padStart(4, '0')}/</Prefix></CommonPrefixes>`)
  }
  parts.push('</ListBucketResult>')
  return Buffer.from(parts.join(''))
}

const PAGE_CONTENTS = listPage(1000, 0)
const PAGE_PREFIXES = listPage(0, 100)

function sendZeros (res: http.ServerResponse, size: number): void {
  let left = size
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, ZEROS.length)
      left -= n
      const more = res.write(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))
      if (!more) { res.once('drain', pump); return }
    }
    res.end()
  }
  pump()
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q + 1)
  if (req.method === 'PUT') {
    let n = 0
    req.on('data', (c: Buffer) => { n += c.length })
    req.on('end', () => {
      sizes.set(path, n)
      res.writeHead(200, { etag: ETAG, 'content-length': '0' })
      res.end()
    })
    req.on('error', () => res.destroy())
    return
  }
  req.resume()
  if (req.method === 'POST') {
    const xml = query.includes('uploads')
      ? '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult><Bucket>bench</Bucket><Key>k</Key><UploadId>null-upload</UploadId></InitiateMultipartUploadResult>'
      : `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult><Location>http://${host}${path}</Location><Bucket>bench</Bucket><Key>k</Key><ETag>${ETAG.replace(/"/g, '&quot;')}</ETag></CompleteMultipartUploadResult>`
    // answered once the request body (the Complete part list) has been read
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)) })
      res.end(xml)
    })
    return
  }
  if (req.method === 'GET' && query.includes('list-type=2')) {
    const page = query.includes('delimiter=') ? PAGE_PREFIXES : PAGE_CONTENTS
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': String(page.length) })
    res.end(page)
    return
  }
  const size = sizes.get(path)
  if (size === undefined && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(404, { 'content-length': '0' })
    res.end()
    return
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'content-length': String(size), etag: ETAG, 'last-modified': LAST_MODIFIED })
    res.end()
    return
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-length': String(size), etag: ETAG, 'last-modified': LAST_MODIFIED, 'content-type': 'application/octet-stream' })
    sendZeros(res, size!)
    return
  }
  if (req.method === 'DELETE') {
    sizes.delete(path)
    res.writeHead(204)
    res.end()
    return
  }
  res.writeHead(200, { 'content-length': '0' })
  res.end()
})
server.keepAliveTimeout = 60_000
server.listen(port, host, () => {
  const a = server.address()
  process.stdout.write(`null-server listening ${typeof a === 'object' && a !== null ? a.port : port}\n`)
})
const stop = (): void => { server.close(); server.closeAllConnections(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// never outlive the bench: exit when the parent goes away (re-parented)
const parent = process.ppid
setInterval(() => { if (process.ppid !== parent) stop() }, 1000).unref()
