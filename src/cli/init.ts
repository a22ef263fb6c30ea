/**
 * `bluegreen init` as a service: writes a first plan and the migration directories into a
 * directory, refusing to overwrite anything. On AWS, a listener ARN fills the target groups by
 * describing the listener (read-only).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { BluegreenError } from '../errors.js'
import {
  contractReadme,
  expandReadme,
  planTemplate,
  type InitProvider,
  type PlanTemplateInput,
} from './init-templates.js'

export interface InitOptions {
  dir: string
  provider: InitProvider
  app: string
  listenerArn?: string
  /** ELBv2 endpoint override (the local emulator). */
  endpoint?: string
  region?: string
}

export interface InitResult {
  files: string[]
  /** Where the ARNs came from, when they were described. */
  described?: { listenerArn: string; blue: string; green: string }
  next: string[]
}

export const initFiles = [
  'bluegreen.yaml',
  'migrations/expand/README.md',
  'migrations/contract/README.md',
] as const

export async function initProject(options: InitOptions): Promise<InitResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(options.app)) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `--app ${JSON.stringify(options.app)} is not an app name`,
      hint: 'use letters, digits, ".", "_" and "-", e.g. --app shop',
    })
  }
  const existing = initFiles.filter((file) => existsSync(join(options.dir, file)))
  if (existing.length > 0) {
    throw new BluegreenError({
      code: 'USAGE',
      message: `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''} in ${options.dir}; init writes nothing over them`,
      hint: 'run init in an empty directory, or move the files away first; `bluegreen plan validate` checks the plan that is there',
    })
  }
  const input: PlanTemplateInput = { provider: options.provider, app: options.app }
  let described: InitResult['described']
  if (options.listenerArn) {
    if (options.provider !== 'aws-elbv2') {
      throw new BluegreenError({
        code: 'USAGE',
        message: '--listener-arn is for --provider aws-elbv2',
        hint: 'drop --listener-arn, or add --provider aws-elbv2',
      })
    }
    const { describeListenerPools } = await import('../lb/aws-elbv2.js')
    const pools = await describeListenerPools(options.listenerArn, {
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.region ? { region: options.region } : {}),
    })
    input.aws = {
      ...pools,
      listenerArn: options.listenerArn,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    }
    described = { listenerArn: options.listenerArn, blue: pools.blue, green: pools.green }
  }
  await mkdir(join(options.dir, 'migrations/expand'), { recursive: true })
  await mkdir(join(options.dir, 'migrations/contract'), { recursive: true })
  const contents: Record<(typeof initFiles)[number], string> = {
    'bluegreen.yaml': planTemplate(input),
    'migrations/expand/README.md': expandReadme,
    'migrations/contract/README.md': contractReadme,
  }
  // `wx`: a file that appeared since the check above is still not overwritten.
  for (const file of initFiles) await writeFile(join(options.dir, file), contents[file], { flag: 'wx' })
  return {
    files: [...initFiles],
    ...(described ? { described } : {}),
    next: [
      'bluegreen plan validate',
      'bluegreen release --dry-run --version 1.0.0',
      'bluegreen release --version 1.0.1 --live-version 1.0.0',
    ],
  }
}
