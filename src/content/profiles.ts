import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import type { ImporterOptions } from 'ipfs-unixfs-importer'

/**
 * Declared CID profiles (IPIP-499). The same bytes under the same profile give the CID that Kubo's
 * `ipfs add` gives with the matching flags.
 */
export type CidProfileName = 'unixfs-v1-2025' | 'unixfs-v0-2015'

export const CID_PROFILES: readonly CidProfileName[] = ['unixfs-v1-2025', 'unixfs-v0-2015']

export interface CidProfile {
  name: CidProfileName
  cidVersion: 0 | 1
  rawLeaves: boolean
  chunkSize: number
  maxChildrenPerNode: number
}

const PROFILES: Record<CidProfileName, CidProfile> = {
  // `ipfs add --cid-version=1 --raw-leaves --chunker=size-1048576` with 1024 links per node
  'unixfs-v1-2025': { name: 'unixfs-v1-2025', cidVersion: 1, rawLeaves: true, chunkSize: 1048576, maxChildrenPerNode: 1024 },
  // Kubo's historical default `ipfs add`
  'unixfs-v0-2015': { name: 'unixfs-v0-2015', cidVersion: 0, rawLeaves: false, chunkSize: 262144, maxChildrenPerNode: 174 },
}

export function isCidProfileName (name: string): name is CidProfileName {
  return Object.hasOwn(PROFILES, name)
}

export function cidProfile (name: CidProfileName): CidProfile {
  const profile = PROFILES[name]
  if (profile === undefined) throw new TypeError(`Unknown CID profile "${name}"; expected one of ${CID_PROFILES.join(', ')}`)
  return profile
}

/** Fresh importer options for one import: the importer writes onto the object it is given. */
export function importerOptions (name: CidProfileName): Partial<ImporterOptions> {
  const p = cidProfile(name)
  return {
    cidVersion: p.cidVersion,
    rawLeaves: p.rawLeaves,
    chunker: fixedSize({ chunkSize: p.chunkSize }),
    layout: balanced({ maxChildrenPerNode: p.maxChildrenPerNode }),
    reduceSingleLeafToSelf: true,
  }
}
