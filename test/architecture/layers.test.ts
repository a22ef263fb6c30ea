/**
 * The layers point down and nothing imports in a circle: the lint rule and the cycle check that
 * `npm run check` runs, each shown failing on a deliberately wrong import.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { ESLint } from 'eslint'
import tseslint from 'typescript-eslint'
import { afterAll, describe, expect, it } from 'vitest'
import layers from '../../eslint/layers.js'
import { importCycles, importGraph } from '../../scripts/import-cycles.js'

const repo = resolve(import.meta.dirname, '../..')
const run = promisify(execFile)

/** The layer rule alone, as eslint.config.js sets it for src/. */
function layerLinter(): ESLint {
  return new ESLint({
    cwd: repo,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { bluegreen: layers },
        rules: { 'bluegreen/layers': 'error' },
      },
    ],
  })
}

async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await layerLinter().lintText(code, { filePath: join(repo, file) })
  return result.messages.filter((m) => m.ruleId === 'bluegreen/layers').map((m) => m.message)
}

describe('the layer rule', () => {
  it('is on for every file in src/ in the project’s own ESLint config', async () => {
    const config = (await new ESLint({ cwd: repo }).calculateConfigForFile(
      join(repo, 'src/db/client.ts'),
    )) as {
      rules: Record<string, unknown>
    }
    expect(config.rules['bluegreen/layers']).toEqual([2])
  })

  it('fails an import that points up a layer, naming both folders', async () => {
    const errors = await layerErrors(
      'src/db/wrong-way.ts',
      "import { release } from '../engine/release.js'\n",
    )
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain('src/db/ is below src/engine/')
  })

  it('fails a dynamic or type-only import up a layer as well', async () => {
    expect(
      await layerErrors('src/lb/x.ts', "export const p = () => import('../phases/index.js')\n"),
    ).toHaveLength(1)
    expect(
      await layerErrors('src/format/x.ts', "import type { Plan } from '../plan/schema.js'\n"),
    ).toHaveLength(1)
    expect(
      await layerErrors('src/x.ts', "import type { Journal } from './journal/journal.js'\n"),
    ).toHaveLength(1)
  })

  it('fails an import between two folders of one layer unless it is listed sideways', async () => {
    expect(await layerErrors('src/lb/x.ts', "import { withClient } from '../db/client.js'\n")).toHaveLength(1)
    expect(await layerErrors('src/notify/x.ts', "import { send } from '../http/request.js'\n")).toEqual([])
  })

  it('lets imports point down, within a folder and to packages', async () => {
    const code = [
      "import { planSteps } from '../phases/index.js'",
      "import { BluegreenError } from '../errors.js'",
      "import { rollbackTo } from './rollback.js'",
      "import * as z from 'zod'",
      '',
    ].join('\n')
    expect(await layerErrors('src/engine/x.ts', code)).toEqual([])
  })
})

describe('import cycles', () => {
  const dirs: string[] = []
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

  it('src/ has none', () => {
    expect(importCycles(importGraph(join(repo, 'src')))).toEqual([])
  })

  it('finds a circle through a type-only import, and the check exits 1 naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-cycle-'))
    dirs.push(dir)
    mkdirSync(join(dir, 'engine'))
    writeFileSync(join(dir, 'engine/a.ts'), "import { b } from './b.js'\nexport const a = b\n")
    writeFileSync(join(dir, 'engine/b.ts'), "import type { C } from './c.js'\nexport const b = 1 as C\n")
    writeFileSync(
      join(dir, 'engine/c.ts'),
      "export type C = number\nexport const c = () => import('./a.js')\n",
    )
    writeFileSync(join(dir, 'engine/d.ts'), "import { a } from './a.js'\nexport const d = a\n")

    const cycles = importCycles(importGraph(dir))
    expect(cycles.map((c) => c.map((f) => f.slice(dir.length + 1)))).toEqual([
      ['engine/a.ts', 'engine/b.ts', 'engine/c.ts'],
    ])

    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/import-cycles.ts', dir], {
      cwd: repo,
    }).catch((error: { code: number; stderr: string }) => error)
    expect('code' in failed && failed.code).toBe(1)
    expect((failed as { stderr: string }).stderr).toContain('import cycle:')
  })
})
