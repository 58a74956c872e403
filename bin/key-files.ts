import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'

export interface ServerCredentials {
  accessKeyId: string
  secretAccessKey: string
}

/** `<dataDir>/master.key`: 32 random bytes, base64, made once (mode 0600). */
export async function loadOrCreateMasterKey (dataDir: string): Promise<string> {
  const file = join(dataDir, 'master.key')
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw new Error(`Cannot read ${file}: ${(err as Error).message}`)
  }
  await mkdir(dataDir, { recursive: true })
  return (await createOnce(file, randomBytes(32).toString('base64') + '\n')).trim()
}

/**
 * Writes `text` to `file` unless it exists, and returns what the file holds then. The file appears
 * whole or not at all (written to a temporary name, synced, then linked into place): processes
 * starting together on one data directory all read the one that was linked first.
 */
async function createOnce (file: string, text: string): Promise<string> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(temp, file)
    return text
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err
    return await readFile(file, 'utf8')
  } finally {
    await unlink(temp).catch(() => {})
  }
}

export async function loadOrCreateCredentials (dataDir: string): Promise<ServerCredentials> {
  const file = join(dataDir, 'credentials.json')
  let saved: Partial<ServerCredentials> | undefined
  try {
    saved = JSON.parse(await readFile(file, 'utf8')) as Partial<ServerCredentials>
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw new Error(`Cannot read ${file}: ${(err as Error).message}`)
  }
  if (saved !== undefined) {
    if (typeof saved.accessKeyId === 'string' && typeof saved.secretAccessKey === 'string') {
      return { accessKeyId: saved.accessKeyId, secretAccessKey: saved.secretAccessKey }
    }
    throw new Error(`${file} lacks accessKeyId / secretAccessKey; fix or remove it`)
  }
  const generated = {
    // 20 upper-case alphanumerics as AWS access key ids; 40 base64 characters as their secrets
    accessKeyId: 'S3IPFS' + randomBytes(16).toString('hex').toUpperCase().slice(0, 14),
    secretAccessKey: randomBytes(30).toString('base64'),
  }
  await mkdir(dataDir, { recursive: true })
  // Another process starting on the same directory may have made one first: its pair is the one kept.
  const kept = JSON.parse(await createOnce(file, JSON.stringify(generated, null, 2) + '\n')) as ServerCredentials
  return { accessKeyId: kept.accessKeyId, secretAccessKey: kept.secretAccessKey }
}
