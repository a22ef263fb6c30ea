/**
 * The embedded PostgreSQL is the path every machine without PostgreSQL takes. With the project
 * in a directory only its owner can enter (mktemp -d, /root/…), it once died as root with an
 * unhandled 'error' event (spawn …/initdb EACCES): the `postgres` user it runs as could not
 * reach the binaries. The built CLI, hard-linked into a 0700 temp directory, runs the demo.
 */
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensureBuilt, repoRoot } from '../support/cli.js'

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

describe('bluegreen demo --postgres embedded from a 0700 directory', () => {
  it('runs to the end and stops everything (as root: the postgres user reaches the binaries)', async () => {
    // Given the installed CLI inside a directory only its owner may enter
    ensureBuilt()
    dir = mkdtempSync(join(tmpdir(), 'bluegreen-0700-'))
    chmodSync(dir, 0o700)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const parts = ['bin', 'dist', 'node_modules', 'package.json', 'plans', 'oclif.manifest.json']
    try {
      execFileSync('cp', ['-al', ...parts.map((p) => join(repoRoot, p)), dir])
    } catch {
      execFileSync('cp', ['-a', ...parts.map((p) => join(repoRoot, p)), dir])
    }

    // When the demo runs there on the embedded PostgreSQL
    const child = spawn(process.execPath, [join(dir, 'bin/run.js'), 'demo', '--postgres', 'embedded'], {
      cwd: dir,
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000)
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    clearTimeout(timer)

    // Then it finished, on the embedded server, and left nothing running
    expect(output).not.toContain("Unhandled 'error' event")
    expect(code, output).toBe(0)
    expect(output).toMatch(/start PostgreSQL\s+\S+\s+embedded, pid \d+/)
    expect(output).toContain('nothing left running')
  }, 180_000)
})
