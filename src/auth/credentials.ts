import type { CredentialProvider, Credentials, GatewayInit } from '../types.js'

/** The key pair `createGateway()` uses when no credentials are configured (tests, local play). */
export const DEFAULT_ACCESS_KEY_ID = 'S3IPFSEXAMPLEKEY'
export const DEFAULT_SECRET_ACCESS_KEY = 's3ipfs-example-secret'

/**
 * Turns `GatewayInit.credentials` into a CredentialProvider.
 *
 * - a function is used as is;
 * - a record maps access key id to secret; the principal is the access key id;
 * - undefined gives the single default key pair.
 *
 * The record is copied, so later changes by the caller do not alter the gateway's keys.
 */
export function toCredentialProvider (credentials: GatewayInit['credentials']): CredentialProvider & { knownPrincipal: (id: string) => boolean } {
  if (typeof credentials === 'function') {
    const known = (credentials as { knownPrincipal?: unknown }).knownPrincipal
    const provider: CredentialProvider & { knownPrincipal?: (id: string) => boolean } = (accessKeyId) => credentials(accessKeyId)
    // A bare function cannot say which principals exist: grants to any id are accepted.
    provider.knownPrincipal = typeof known === 'function' ? (id: string) => Boolean(known(id)) : () => true
    return provider as CredentialProvider & { knownPrincipal: (id: string) => boolean }
  }
  const source = credentials ?? { [DEFAULT_ACCESS_KEY_ID]: DEFAULT_SECRET_ACCESS_KEY }
  const table = new Map<string, Credentials>()
  for (const [accessKeyId, secretAccessKey] of Object.entries(source)) {
    if (typeof secretAccessKey !== 'string' || secretAccessKey === '') {
      throw new TypeError(`credentials: the secret for access key ${JSON.stringify(accessKeyId)} must be a non-empty string`)
    }
    table.set(accessKeyId, { secretAccessKey, principal: accessKeyId, displayName: accessKeyId })
  }
  const provider = ((accessKeyId: string) => table.get(accessKeyId)) as CredentialProvider & { knownPrincipal: (id: string) => boolean }
  provider.knownPrincipal = (id) => table.has(id)
  return provider
}
