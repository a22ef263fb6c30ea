/** A hint's next step names the plan the user gave, so it can be copied and run as it is. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { requirePlan } from '../../src/cli/invocation.js'
import { BluegreenError, setPlanForHints } from '../../src/errors.js'

const resumeHint = 'continue with `bluegreen release PLAN --resume`, or `bluegreen rollback --plan PLAN`'
const error = () => new BluegreenError({ code: 'INTERRUPTED', message: 'stopped', hint: resumeHint })

afterEach(() => setPlanForHints(undefined))

describe('hints with the plan’s path', () => {
  it('name the plan given as argument or --plan instead of PLAN', () => {
    requirePlan('plans/shop.yaml', undefined, 'release')
    expect(error().hint).toBe(
      'continue with `bluegreen release plans/shop.yaml --resume`, or `bluegreen rollback --plan plans/shop.yaml`',
    )
    requirePlan(undefined, 'deploy/other.yaml', 'rollback')
    expect(error().hint).toContain('bluegreen release deploy/other.yaml --resume')
  })

  it('name ./bluegreen.yaml when that is the plan found, and quote a path a shell would split', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bluegreen-hints-'))
    try {
      writeFileSync(join(dir, 'bluegreen.yaml'), 'app: x\n')
      requirePlan(undefined, undefined, 'status', dir)
      expect(error().hint).toContain('bluegreen release bluegreen.yaml --resume')
      requirePlan("my plans/it's.yaml", undefined, 'release')
      expect(error().hint).toContain(`bluegreen release 'my plans/it'\\''s.yaml' --resume`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keep PLAN while no plan is known, and never touch codes such as PLAN_INVALID', () => {
    expect(error().hint).toBe(resumeHint)
    requirePlan('p.yaml', undefined, 'release')
    const invalid = new BluegreenError({
      code: 'PLAN_INVALID',
      message: 'x',
      hint: 'see PLAN_INVALID in the README',
    })
    expect(invalid.hint).toBe('see PLAN_INVALID in the README')
  })
})
