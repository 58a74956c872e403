// Packages only some features need are optional peer dependencies of s3-ipfs-gateway, imported on
// the feature's first use: `import 's3-ipfs-gateway'` works without any of them, and a feature whose
// package is missing fails with an error that names the package and the command that installs it.
// (The embedded IPFS node, src/helia/packages.ts, and the Storacha archive target do the same with
// their own codes, ERR_IPFS_NODE_PACKAGES and ERR_STORACHA_CLIENT_MISSING.)

/** The code of the error thrown when a feature's optional peer package is not installed. */
export const OPTIONAL_PEER_MISSING = 'ERR_OPTIONAL_PEER_MISSING'

/**
 * `load()` (an `import()` of `name`), or, when `name` itself cannot be found, an error with code
 * ERR_OPTIONAL_PEER_MISSING saying what to install. A package that is installed but fails to load
 * (one of its own dependencies missing, say) rejects with its own error.
 */
export async function importOptionalPeer<T> (name: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (code !== 'ERR_MODULE_NOT_FOUND' || typeof message !== 'string' || !message.includes(`'${name}'`)) throw err
    throw Object.assign(new Error(`${feature} needs the optional peer dependency ${name}, which is not installed: npm install ${name}`, { cause: err }), {
      code: OPTIONAL_PEER_MISSING,
      packageName: name,
    })
  }
}

/** node-postgres, for PostgresMetadataStore. */
export async function loadPg (): Promise<typeof import('pg').default> {
  return (await importOptionalPeer('pg', 'The PostgreSQL metadata store (PostgresMetadataStore)', async () => await import('pg'))).default
}

/** kubo-rpc-client, for KuboBlockstore. */
export async function loadKuboRpcClient (): Promise<typeof import('kubo-rpc-client')> {
  return await importOptionalPeer('kubo-rpc-client', 'The Kubo blockstore (KuboBlockstore)', async () => await import('kubo-rpc-client'))
}

/** @keyv/redis (with its peer keyv), for redisBlockCache. */
export async function loadKeyvRedis (): Promise<typeof import('@keyv/redis')> {
  return await importOptionalPeer('@keyv/redis', 'The Redis block cache (redisBlockCache)', async () => await import('@keyv/redis'))
}
