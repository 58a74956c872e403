// IPNS names for the node's content: keys derived from the node's persistent key, signed records,
// and the HTTP endpoints that serve them (Delegated Routing V1 `/routing/v1/ipns/<name>` and the
// trustless gateway's `/ipns/<name>` record response). No libp2p or Helia is loaded.
export { IpnsKeyring, deriveIpnsKey, nodeIpnsKey } from './keys.js'
export type { IpnsKey, NodePrivateKey } from './keys.js'
export { parseIpnsName, ipnsNameOf } from './name.js'
export type { IpnsName } from './name.js'
export { signIpnsRecord, IPNS_RECORD_CONTENT_TYPE, MAX_IPNS_RECORD_SIZE } from './record.js'
export type { IpnsRecordInit, SignedIpnsRecord } from './record.js'
export { IpnsRecordCache } from './record-cache.js'
export type { IpnsRecordCacheInit } from './record-cache.js'
export { ipnsRecordServer } from './server.js'
export type { IpnsPublication, IpnsRecordServer, IpnsRecordServerInit, IpnsResolver } from './server.js'
