import type { CID } from 'multiformats/cid'
import type { AbortOptions } from '../types.js'
import { writeDirectory, type DirectoryEntry, type DirectoryLayout, type PutBlock } from './directory.js'
import { firstName, nameToSegments, unescapeSegment } from './key-path.js'

/** Protection of what a directory links until the directory itself is protected (a ContentStore write session). */
export interface Holder {
  hold: (cid: CID | string) => void
  close: () => void
}

/** A directory being filled: the keys starting with `prefix` go into it or below it. */
interface OpenDir {
  name: string
  parent?: OpenDir
  /** The key prefix of everything under it: `<parent's>name/` for a directory of the key rule, the name's part so far for a long name's piece. */
  prefix: string
  entries: DirectoryEntry[]
  /** Open subdirectories by segment name. */
  children: Map<string, OpenDir>
  /** For a directory of the key rule: the names of its files that every key since has started with (see firstName). */
  files?: string[]
  /** Holds the CIDs linked from `entries` until this directory is written and held by its parent's. */
  holder: Holder
}

export interface TreeInit {
  layout: DirectoryLayout
  put: PutBlock
  /** A new holder per open directory. */
  holder: () => Holder
  signal?: AbortSignal
}

/**
 * Builds a UnixFS directory from keys given in ascending order (any lexicographic order: those of
 * one prefix are contiguous, and a key comes before every key it is a prefix of), each with its
 * file's CID and cumulative size; paths follow the key rule (key-path.ts). A directory is written
 * as soon as no later key can fall in it, so what is held in memory is the entries of the open
 * directories: those on the current key's path (and the pieces of long names beside it) — every
 * entry of the largest directory at worst, never the whole tree.
 */
export class TreeBuilder {
  private readonly root: OpenDir

  constructor (private readonly init: TreeInit) {
    this.root = this.open('', undefined, '', true)
  }

  /** Adds the file for `key` (relative to the snapshot's prefix). Keys must come in ascending order, each once. */
  async add (key: string, cid: CID, tsize: number): Promise<void> {
    this.init.signal?.throwIfAborted()
    await this.closeOutside(this.root, key)
    let dir = this.root
    let rest = key
    while (true) {
      const files = dir.files as string[]
      // Names of files that this key does not start with can no longer conflict with any later key.
      for (let i = files.length - 1; i >= 0; i--) if (!rest.startsWith(files[i])) files.splice(i, 1)
      const { name, file } = firstName(rest, files)
      const segments = nameToSegments(name)
      let here = dir
      let consumed = dir.prefix
      for (const segment of segments.slice(0, -1)) {
        consumed += unescapeSegment(segment.slice(0, -1))
        here = here.children.get(segment) ?? this.open(segment, here, consumed, false)
      }
      const last = segments[segments.length - 1]
      if (file) {
        here.holder.hold(cid)
        here.entries.push({ name: last, cid, tsize, dir: false })
        files.push(name)
        return
      }
      dir = here.children.get(last) ?? this.open(last, here, `${dir.prefix}${name}/`, true)
      rest = rest.slice(name.length + 1)
    }
  }

  /** Writes every open directory and returns the root's CID and cumulative size, held by the returned holder. */
  async finish (options?: AbortOptions): Promise<{ cid: CID, tsize: number, holder: Holder }> {
    for (const child of [...this.root.children.values()]) await this.close(child)
    const written = await this.write(this.root, options)
    return { ...written, holder: this.root.holder }
  }

  /** Releases every hold, the root's included (after a failure, or once the root is referenced). */
  abandon (): void {
    const release = (dir: OpenDir): void => {
      for (const child of dir.children.values()) release(child)
      dir.children.clear()
      dir.holder.close()
    }
    release(this.root)
  }

  private open (name: string, parent: OpenDir | undefined, prefix: string, keyed: boolean): OpenDir {
    const dir: OpenDir = { name, parent, prefix, entries: [], children: new Map(), holder: this.init.holder() }
    if (keyed) dir.files = []
    parent?.children.set(name, dir)
    return dir
  }

  /** Writes the open directories under `dir` that no key from `key` on can fall in. */
  private async closeOutside (dir: OpenDir, key: string): Promise<void> {
    for (const child of [...dir.children.values()]) {
      if (key.startsWith(child.prefix)) await this.closeOutside(child, key)
      else await this.close(child)
    }
  }

  private async close (dir: OpenDir): Promise<void> {
    for (const child of [...dir.children.values()]) await this.close(child)
    const parent = dir.parent as OpenDir
    const { cid, tsize } = await this.write(dir)
    parent.entries.push({ name: dir.name, cid, tsize, dir: true })
    parent.children.delete(dir.name)
    dir.holder.close()
  }

  private async write (dir: OpenDir, options?: AbortOptions): Promise<{ cid: CID, tsize: number }> {
    // The directory's blocks are held (by its parent's holder) before they are put.
    const holder = dir.parent?.holder ?? dir.holder
    const put: PutBlock = async (cid, bytes, o) => {
      holder.hold(cid)
      await this.init.put(cid, bytes, o)
    }
    return await writeDirectory(dir.entries, this.init.layout, put, { signal: options?.signal ?? this.init.signal })
  }
}
