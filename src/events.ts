/**
 * The engine emits events; src/ui/ renders them (listr2 on a terminal, plain lines in CI,
 * NDJSON under --json). The engine never imports a renderer.
 */
import type { PoolName } from './pools.js'

/** A phase kind's name (the registry in src/phases/index.ts knows which exist). */
type PhaseKind = string

export interface StepInfo {
  index: number
  kind: PhaseKind
  /** One line: what the step does, e.g. "apply 2 migrations from migrations/expand". */
  summary: string
  touches: string
}

export type EngineEvent =
  | {
      type: 'release.start'
      app: string
      version: string
      releaseId: string
      /** Pool names; on a dry run without a reachable load balancer, a description instead. */
      from: string
      to: string
      resumed: boolean
      dryRun: boolean
      steps: StepInfo[]
    }
  | { type: 'step.start'; index: number; kind: PhaseKind; summary: string }
  | { type: 'step.skip'; index: number; kind: PhaseKind; reason: string }
  | {
      type: 'step.progress'
      index: number
      kind: PhaseKind
      message: string
      done?: number
      total?: number
      etaMs?: number
    }
  | { type: 'step.output'; index: number; kind: PhaseKind; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'step.done'; index: number; kind: PhaseKind; ms: number; summary: string }
  | {
      type: 'step.fail'
      index: number
      kind: PhaseKind
      ms: number
      code: string
      message: string
      hint?: string
      details: string[]
    }
  | { type: 'switch'; from: PoolName; to: PoolName; weights: Record<PoolName, number>; changed: boolean }
  | { type: 'rollback.start'; from: PoolName; to: PoolName; reason: string; automatic: boolean }
  | { type: 'rollback.done'; from: PoolName; to: PoolName; ms: number }
  | { type: 'contract.run'; release: string; version: string; files: string[] }
  | { type: 'contract.wait'; release: string; version: string; reason: string }
  | {
      /** The release stopped at an approve step: it continues with `bluegreen approve PLAN`. */
      type: 'approval.waiting'
      index: number
      kind: PhaseKind
      releaseId: string
      version: string
      /** When the gate was first reached, and when its onTimeout acts (ISO). */
      since: string
      deadline: string
      onTimeout: 'rollback' | 'abandon'
    }
  | { type: 'warning'; message: string }
  | { type: 'info'; message: string }

/** Every event carries its time; the emitter stamps it. */
export type StampedEvent = EngineEvent & { at: string }

export type Emit = (event: EngineEvent) => void

export function stamp(event: EngineEvent): StampedEvent {
  return { ...event, at: new Date().toISOString() }
}
