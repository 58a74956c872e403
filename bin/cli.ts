#!/usr/bin/env node
import { applyHeapPolicy } from './heap-policy.js'

// First, before the gateway's modules load: V8 grows its young generation while they do and does
// not shrink it back (heap-policy.ts). The commands are loaded after.
applyHeapPolicy()
const { main } = await import('./commands.js')
const code = await main(process.argv.slice(2))
if (code >= 0) process.exitCode = code
