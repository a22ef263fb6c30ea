/**
 * Versions are names, not code: a version fills `{{version}}` in commands, URLs, output lines
 * and the journal, so a tag such as `$(id)`, `1.0;touch f` or one with a newline is refused
 * before anything runs. (Git accepts such tag names; a tag-driven pipeline passes them on.)
 */
import { BluegreenError } from '../errors.js'

export const versionPattern = /^[A-Za-z0-9._+-]{1,128}$/
export const versionRule =
  'a version is 1 to 128 letters, digits, ".", "_", "-" and "+" (e.g. 2.4.0, v1.2.3-rc.1+build.7)'

/** --version (or --live-version) must be a version name: a usage error (exit 2) otherwise. */
export function checkVersionFlag(version: string | undefined, flag: string): void {
  if (!version || versionPattern.test(version)) return
  throw new BluegreenError({
    code: 'USAGE',
    message: `${flag} ${shownValue(version)} is not a version name`,
    hint: `${versionRule}; nothing was run`,
  })
}

/** A value for a message: quoted and escaped (a newline cannot forge a line), and cut short. */
export function shownValue(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}
