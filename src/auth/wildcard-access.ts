import type { Policy } from './policy.js'
import { principalMatches } from './policy.js'
import { wildcardMatch } from './policy-conditions.js'

/**
 * Whether a statement of `policy` might deny `action` on some object whose ARN starts with
 * `arnPrefix`: the check that makes a grant on a whole key range (`prefix*`) safe. It errs towards
 * "might": conditions are assumed to hold, NotResource and policy variables in a resource are
 * assumed to match; only the principal, the action and the resource's literal part are compared.
 */
export function mayDenySome (policy: Policy, principal: string | undefined, action: string, arnPrefix: string): boolean {
  const lower = action.toLowerCase()
  return policy.statements.some((statement) =>
    statement.effect === 'Deny' &&
    (statement.principal == null || principalMatches(statement.principal, principal) !== statement.notPrincipal) &&
    statement.actions.some((pattern) => wildcardMatch(pattern, lower)) !== statement.notAction &&
    (statement.notResource || statement.resources.some((pattern) => patternMayMatchPrefix(pattern, arnPrefix))))
}

/** Whether some string starting with `prefix` matches the glob `pattern` (`*`, `?`; `${...}` taken as anything). */
export function patternMayMatchPrefix (pattern: string, prefix: string): boolean {
  let i = 0
  for (let j = 0; j < prefix.length; j++, i++) {
    if (i === pattern.length) return false
    const c = pattern[i]
    if (c === '*' || (c === '$' && pattern[i + 1] === '{')) return true
    if (c !== '?' && c !== prefix[j]) return false
  }
  // The prefix is matched; the rest of the pattern matches some continuation.
  return true
}
