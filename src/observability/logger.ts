import { destination as pinoDestination, pino } from 'pino'

/**
 * Where the gateway logs: any pino-compatible logger (pino itself, or a host's `logger.child()`).
 * Calls are pino's shape, the details object first: `logger.error({ err, requestId }, 'message')`.
 */
export interface GatewayLogger {
  error(details: Record<string, unknown>, message?: string): void
  warn(details: Record<string, unknown>, message?: string): void
  info(details: Record<string, unknown>, message?: string): void
  debug?(details: Record<string, unknown>, message?: string): void
  /** pino's level check; when absent every level is taken to be enabled. */
  isLevelEnabled?(level: string): boolean
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface JsonLoggerOptions {
  /** Default 'info'. */
  level?: LogLevel
  /** File descriptor or path to write JSON lines to. Default 2 (stderr). */
  destination?: number | string
  /**
   * Write each line before returning (default false: lines written while a write is pending are
   * batched into the next one, which costs far less per request; call `flush()` before exiting).
   */
  sync?: boolean
}

/** A pino logger writing JSON lines (the standalone server's, and the library's default at 'warn'). */
export function jsonLogger (options: JsonLoggerOptions = {}): GatewayLogger & { flush: () => void } {
  const sync = options.sync ?? false
  // Async: lines gather up to 8 KiB per write (a write per line cost more than the line itself),
  // and every second what has gathered is written out, so a line never waits longer than that.
  const destination = pinoDestination({ dest: options.destination ?? 2, sync, minLength: sync ? 0 : 8 * 1024 })
  const logger = pino({ level: options.level ?? 'info', base: { name: 's3-ipfs-gateway' } }, destination)
  const flushSync = (): void => {
    try {
      destination.flushSync()
    } catch {
      // not open yet (a path still opening): nothing was written to it either
    }
  }
  if (!sync) {
    const timer = setInterval(() => {
      try {
        destination.flush()
      } catch {
        // destroyed, or not open yet: nothing to write
      }
    }, 1000)
    timer.unref()
    destination.once('close', () => { clearInterval(timer) })
  }
  return Object.assign(logger, { flush: flushSync })
}

let fallback: GatewayLogger | undefined

/** The logger of a gateway given none: warnings and errors to stderr, written at once. */
export function defaultLogger (): GatewayLogger {
  fallback ??= jsonLogger({ level: 'warn', sync: true })
  return fallback
}
