import { readFileSync, statSync } from 'node:fs'
import type { CredentialProvider, Credentials } from '../types.js'
import { parsePolicy } from './policy.js'

/**
 * A users file, JSON:
 *
 * ```json
 * { "users": [
 *   { "name": "alice", "displayName": "Alice",
 *     "accessKeys": [{ "accessKeyId": "AKIAALICE", "secretAccessKey": "..." }],
 *     "policies": [{ "Version": "2012-10-17", "Statement": [ ... ] }] }
 * ] }
 * ```
 *
 * `name` is the principal (bucket owner id, and what bucket policies name in `Principal`). A user
 * without `policies` is an account of its own; with them, it may do only what a policy allows.
 */
export interface UsersFile {
  users: UserEntry[]
}

export interface UserEntry {
  name: string
  displayName?: string
  accessKeys: Array<{ accessKeyId: string, secretAccessKey: string }>
  /** Identity policies, as JSON objects or JSON text. */
  policies?: Array<string | Record<string, unknown>>
}

/** A CredentialProvider that also knows which principals exist (for ACL grants by id). */
export type UserDirectory = CredentialProvider & {
  knownPrincipal: (id: string) => boolean
}

interface Loaded {
  keys: Map<string, Credentials>
  principals: Set<string>
}

/**
 * Validates a users document and indexes it. Throws a TypeError naming the first problem: a user
 * without a name, a duplicate name or access key id, an empty secret, or a policy that is not a
 * valid identity policy.
 */
export function loadUsers (doc: unknown, source = 'users'): Loaded {
  const users = (doc as Partial<UsersFile> | null)?.users
  if (!Array.isArray(users)) throw new TypeError(`${source}: expected { "users": [...] }`)
  const keys = new Map<string, Credentials>()
  const principals = new Set<string>()
  users.forEach((user: Partial<UserEntry>, i) => {
    const where = `${source}: users[${i}]`
    if (typeof user?.name !== 'string' || user.name === '') throw new TypeError(`${where}: "name" must be a non-empty string`)
    if (principals.has(user.name)) throw new TypeError(`${where}: the name ${JSON.stringify(user.name)} is used twice`)
    principals.add(user.name)
    const policies = (user.policies ?? []).map((p, j) => {
      const text = typeof p === 'string' ? p : JSON.stringify(p)
      try {
        parsePolicy(text, { kind: 'identity' })
      } catch (err) {
        throw new TypeError(`${where}.policies[${j}]: ${(err as Error).message}`)
      }
      return text
    })
    if (!Array.isArray(user.accessKeys)) throw new TypeError(`${where}: "accessKeys" must be a list`)
    for (const key of user.accessKeys) {
      if (typeof key?.accessKeyId !== 'string' || key.accessKeyId === '' || typeof key.secretAccessKey !== 'string' || key.secretAccessKey === '') {
        throw new TypeError(`${where}: each access key needs a non-empty "accessKeyId" and "secretAccessKey"`)
      }
      if (keys.has(key.accessKeyId)) throw new TypeError(`${where}: the access key id ${key.accessKeyId} is used twice`)
      keys.set(key.accessKeyId, {
        secretAccessKey: key.secretAccessKey,
        principal: user.name,
        displayName: user.displayName ?? user.name,
        ...(policies.length > 0 ? { policies } : {}),
      })
    }
  })
  return { keys, principals }
}

export interface FileCredentialsInit {
  /** The users file (see UsersFile). */
  path: string
  /** How often, at most, the file's modification time is checked for changes, in ms. Default 2000. */
  reloadIntervalMs?: number
}

/**
 * Access keys and identity policies from a JSON users file, re-read when the file changes (checked
 * at most every `reloadIntervalMs`), so keys can be added or revoked without a restart. The file is
 * read once at construction and a bad file throws then; a bad edit later keeps the last good
 * contents in force.
 */
export function fileCredentials (init: FileCredentialsInit): UserDirectory {
  const interval = init.reloadIntervalMs ?? 2000
  const read = (): Loaded => loadUsers(JSON.parse(readFileSync(init.path, 'utf8')), init.path)
  let loaded = read()
  let mtime = statSync(init.path).mtimeMs
  let checked = Date.now()
  const refresh = (): void => {
    const now = Date.now()
    if (now - checked < interval) return
    checked = now
    try {
      const current = statSync(init.path).mtimeMs
      if (current === mtime) return
      loaded = read()
      mtime = current
    } catch {
      // Keep the last good users while the file is being replaced or is invalid.
    }
  }
  const provider = ((accessKeyId: string) => {
    refresh()
    return loaded.keys.get(accessKeyId)
  }) as UserDirectory
  provider.knownPrincipal = (id: string) => {
    refresh()
    return loaded.principals.has(id)
  }
  return provider
}
