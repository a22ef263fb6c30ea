/**
 * The CI examples in examples/ are what pipelines copy: every `bluegreen` command and flag they
 * use must exist in the built CLI (oclif.manifest.json, written by npm run build), and the
 * release workflows must act on every exit code.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ensureBuilt, repoRoot } from '../support/cli.js'

interface ManifestFlag {
  name: string
  char?: string
  allowNo?: boolean
}
interface Manifest {
  commands: Record<string, { flags: Record<string, ManifestFlag> }>
}

const examples = [
  'examples/github-actions/release.yml',
  'examples/github-actions/rollback.yml',
  'examples/gitlab-ci.yml',
]

/** Every string value of a parsed YAML document (run:, script: lines…). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(strings)
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings)
  return []
}

/** Each `bluegreen …` invocation in shell text, as its words up to the end of the command. */
function invocations(script: string): string[][] {
  const found: string[][] = []
  // A message that names a command (echo "… see npx bluegreen status") runs nothing.
  for (const line of script.split('\n').filter((l) => !/^\s*#|\becho\b/.test(l))) {
    for (const match of line.matchAll(/(?:^|[\s;&|(])(?:npx\s+)?bluegreen\s+([^;&|)>#\n]*)/g)) {
      found.push(match[1].trim().split(/\s+/).filter(Boolean))
    }
  }
  return found
}

function check(manifest: Manifest, words: string[]): string[] {
  const positional = words.filter((w) => !w.startsWith('-'))
  const id = [positional.slice(0, 2).join(':'), positional[0]].find(
    (candidate) => manifest.commands[candidate],
  )
  if (!id) return [`no command ${positional.slice(0, 2).join(' ')}`]
  const flags = Object.values(manifest.commands[id].flags)
  return words
    .filter((w) => w.startsWith('-'))
    .flatMap((word) => {
      const name = word.replace(/^--?/, '').split('=')[0]
      const known = word.startsWith('--')
        ? flags.some((f) => f.name === name || (f.allowNo && `no-${f.name}` === name))
        : flags.some((f) => f.char === name)
      return known ? [] : [`${id.replace(':', ' ')}: no flag ${word}`]
    })
}

describe('CI examples', () => {
  ensureBuilt()
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'oclif.manifest.json'), 'utf8')) as Manifest

  for (const file of examples) {
    it(`${file}: every bluegreen command and flag exists`, () => {
      const document: unknown = parse(readFileSync(join(repoRoot, file), 'utf8'))
      const used = strings(document).flatMap(invocations)
      expect(used.length).toBeGreaterThan(0)
      expect(used.flatMap((words) => check(manifest, words))).toEqual([])
    })
  }

  it('the release workflows act on every exit code, 0 to 5 and the rest', () => {
    for (const file of ['examples/github-actions/release.yml', 'examples/gitlab-ci.yml']) {
      const text = strings(parse(readFileSync(join(repoRoot, file), 'utf8'))).join('\n')
      for (const code of ['0', '1', '2', '3', '4', '5', '*'])
        expect(text, `${file}: ${code})`).toMatch(new RegExp(`^\\s*${code === '*' ? '\\*' : code}\\) `, 'm'))
    }
  })

  it('the rollback workflow is started by hand', () => {
    const workflow = parse(readFileSync(join(repoRoot, 'examples/github-actions/rollback.yml'), 'utf8')) as {
      on: Record<string, unknown>
    }
    expect(Object.keys(workflow.on)).toEqual(['workflow_dispatch'])
  })

  it('the check finds a flag that does not exist (so it can fail)', () => {
    expect(check(manifest, ['release', '--version', 'x', '--wait-forever'])).toEqual([
      'release: no flag --wait-forever',
    ])
    expect(check(manifest, ['deploy-everything'])).toEqual(['no command deploy-everything'])
  })
})
