/**
 * Checks a parsed Query request against the ELBv2 model's input shape for its operation (from
 * model.ts, generated from botocore): only the API's own parameters, with AWS's types and bounds.
 * Anything else is a ValidationError before any state is touched, and is never stored or echoed.
 */
import { isStruct, type QueryNode, type QueryStruct } from './query.js'
import { operationInputs, shapes, type ModelShape } from './model.js'
import { ApiError } from './state.js'

export type { ModelShape }

/** Parameters every Query request carries besides the operation's own. */
const envelope = new Set(['Action', 'Version'])

export function validateInput(operation: string, params: QueryStruct): void {
  const input = operationInputs[operation]
  if (!input) throw new Error(`no model for ${operation}`)
  const body = Object.create(null) as QueryStruct
  for (const [key, value] of Object.entries(params)) if (!envelope.has(key)) body[key] = value
  check(input, body, '')
}

function check(shapeName: string, node: QueryNode, path: string): void {
  const shape = shapes[shapeName]
  switch (shape.type) {
    case 'structure': {
      if (!isStruct(node)) throw invalid(path, node, 'Member must be a structure')
      const members = shape.members ?? {}
      for (const [key, value] of Object.entries(node)) {
        if (!Object.hasOwn(members, key)) {
          // The name itself is never echoed: it is the client's, and can be anything.
          throw new ApiError(
            'ValidationError',
            `1 validation error detected: ${path ? `'${path}' has` : 'the request has'} a parameter that is not part of the ELBv2 API`,
          )
        }
        check(members[key], value, path ? `${path}.${key}` : key)
      }
      for (const key of shape.required ?? []) {
        const value = node[key]
        if (value === undefined || value === '')
          throw invalid(path ? `${path}.${key}` : key, undefined, 'Member must not be null')
      }
      return
    }
    case 'list': {
      const items = node === '' ? [] : node
      if (!Array.isArray(items)) throw invalid(path, node, 'Member must be a list')
      if (shape.max !== undefined && items.length > shape.max)
        throw invalid(path, undefined, `Member must have length less than or equal to ${shape.max}`)
      if (shape.min !== undefined && items.length < shape.min)
        throw invalid(path, undefined, `Member must have length greater than or equal to ${shape.min}`)
      items.forEach((item, i) => check(shape.member!, item, `${path}.member.${i + 1}`))
      return
    }
    case 'map': {
      const map = node === '' ? new Map<string, string>() : node
      if (!(map instanceof Map)) throw invalid(path, node, 'Member must be a map')
      if (shape.max !== undefined && map.size > shape.max)
        throw invalid(path, undefined, `Member must have length less than or equal to ${shape.max}`)
      for (const [key, value] of map) {
        check(shape.key!, key, `${path}.entry.key`)
        check(shape.value!, value, `${path}.entry.value`)
      }
      return
    }
    case 'string': {
      if (typeof node !== 'string') throw invalid(path, node, 'Member must be a string')
      if (shape.max !== undefined && node.length > shape.max)
        throw invalid(path, node, `Member must have length less than or equal to ${shape.max}`)
      if (shape.min !== undefined && node.length < shape.min)
        throw invalid(path, node, `Member must have length greater than or equal to ${shape.min}`)
      if (shape.enum && !shape.enum.includes(node))
        throw invalid(path, node, `Member must satisfy enum value set: [${shape.enum.join(', ')}]`)
      return
    }
    case 'integer':
    case 'long': {
      if (typeof node !== 'string' || !/^-?\d{1,15}$/.test(node))
        throw invalid(path, node, 'Member must be an integer')
      const value = Number(node)
      if (shape.min !== undefined && value < shape.min)
        throw invalid(path, node, `Member must have value greater than or equal to ${shape.min}`)
      if (shape.max !== undefined && value > shape.max)
        throw invalid(path, node, `Member must have value less than or equal to ${shape.max}`)
      return
    }
    case 'boolean':
      if (node !== 'true' && node !== 'false') throw invalid(path, node, 'Member must be true or false')
      return
    default:
      // timestamp, blob, double: not in the inputs of the emulated calls.
      if (typeof node !== 'string') throw invalid(path, node, `Member must be a ${shape.type}`)
  }
}

function invalid(path: string, node: QueryNode | undefined, constraint: string): ApiError {
  const value =
    typeof node === 'string'
      ? `'${node.length > 64 ? `${node.slice(0, 64)}…` : node}'`
      : node === undefined
        ? 'null'
        : 'a value'
  return new ApiError(
    'ValidationError',
    `1 validation error detected: Value ${value} at '${path || 'request'}' failed to satisfy constraint: ${constraint}`,
  )
}
