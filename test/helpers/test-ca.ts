import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

/** The openssl binary that makes the tests' CAs (Debian's `openssl` package). */
export const OPENSSL = '/usr/bin/openssl'
const run = promisify(execFile)

export interface Issued { certFile: string, keyFile: string }

export interface TestCa {
  /** The CA certificate, PEM, and its file (for `--ca-bundle`, `sslrootcert`, `NODE_EXTRA_CA_CERTS`). */
  ca: Buffer
  caFile: string
  /**
   * A server certificate `<dir>/<name>.pem` with its key `<dir>/<name>.key` (new each time), for
   * IP:127.0.0.1 and DNS:localhost unless `subjectAltName` says otherwise (e.g. 'DNS:elsewhere.test').
   */
  issue(name: string, options?: { subjectAltName?: string }): Promise<Issued>
}

async function openssl (cwd: string, args: string[]): Promise<void> {
  await run(OPENSSL, args, { cwd, timeout: 30_000 })
}

function serverExtensions (subjectAltName: string): string {
  return [
    `subjectAltName=${subjectAltName}`,
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
    '',
  ].join('\n')
}

/** A CA (key and self-signed certificate, P-256) in `dir`, all made by the openssl binary. */
export async function makeCa (dir: string): Promise<TestCa> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=s3-ipfs-gateway test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash'])
  return {
    ca: await readFile(join(dir, 'ca.pem')),
    caFile: join(dir, 'ca.pem'),
    issue: async (name, options = {}) => {
      const ext = `${name}.ext`
      await writeFile(join(dir, ext), serverExtensions(options.subjectAltName ?? 'IP:127.0.0.1,DNS:localhost'))
      await openssl(dir, ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
      await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
        '-days', '2', '-extfile', ext, '-out', `${name}.pem`])
      return { certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) }
    },
  }
}
