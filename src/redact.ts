/**
 * Secrets never reach any output. Everything printed by the UI passes through `redact`,
 * which masks passwords in URLs and any value registered as secret (tokens, passwords from the plan).
 */
const secrets = new Set<string>()

/** Registers a literal value (a password, a token) that must never be printed. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 3) secrets.add(value)
}

/** Registers the password of a connection URL, if it has one. */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return
  try {
    const parsed = new URL(url)
    if (parsed.password) {
      registerSecret(parsed.password)
      registerSecret(decodeURIComponent(parsed.password))
    }
  } catch {
    // Not a URL: nothing to register.
  }
}

const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)([^@\s/]+)(@)/gi

export function redact(text: string): string {
  let out = text.replace(urlPassword, '$1***$3')
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('***')
  }
  return out
}
