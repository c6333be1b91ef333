// The create body, checked with Zod: the field rules of the ledger's contract (docs/api.md,
// "The record"), field by field, one detail per bad field as the Rust functions give.

import { z } from 'zod'

import { parseVtid, VTID_FORM } from './vtid.mjs'

export const MAX_BODY_BYTES = 64 * 1024
export const MAX_METADATA_BYTES = 16 * 1024
export const MAX_METADATA_DEPTH = 8
export const STATUSES = ['pending', 'active', 'blocked', 'complete', 'failed', 'cancelled']

const CREATE_FIELDS = [
  'taskFamily',
  'taskType',
  'title',
  'description',
  'status',
  'tenant',
  'assignedTo',
  'parentVtid',
  'metadata',
  'isTest',
]

// Lengths count characters (code points), not UTF-16 units, as the Rust side does.
const length = (s) => [...s].length
const CONTROL = /\p{Cc}/u
// Descriptions are prose: line breaks and tabs are fine, other control characters are not.
const CONTROL_BUT_BREAKS = /[^\P{Cc}\n\r\t]/u
const TENANT = /^[A-Za-z0-9._-]*$/

const stringError = (what) => (issue) =>
  issue.input === undefined ? 'is required' : `must be ${what}`

function text(max, { prose = false } = {}) {
  return z
    .string({ error: stringError('a string') })
    .trim()
    .refine((s) => length(s) >= 1 && length(s) <= max, {
      error: `must be 1 to ${max} characters after trimming`,
      abort: true,
    })
    .refine((s) => !(prose ? CONTROL_BUT_BREAKS : CONTROL).test(s), {
      error: prose
        ? 'must not contain control characters other than line breaks and tabs'
        : 'must not contain control characters',
    })
}

function depth(v) {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth))
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depth))
  return 0
}

const metadata = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, {
    error: 'must be at most 16 KiB (16384 bytes) as JSON',
    abort: true,
  })
  .refine((m) => depth(m) <= MAX_METADATA_DEPTH, {
    error: 'must nest at most 8 levels deep, counting the top object as 1',
  })

const createBody = z.strictObject(
  {
    taskFamily: text(64),
    taskType: text(64),
    title: text(200).nullish(),
    description: text(4000, { prose: true }),
    status: z
      .enum(STATUSES, { error: `status must be one of ${STATUSES.join(', ')}` })
      .default('pending'),
    tenant: z
      .string({ error: stringError('a string') })
      .trim()
      .refine((s) => length(s) >= 1 && length(s) <= 64, {
        error: 'must be 1 to 64 characters',
        abort: true,
      })
      .refine((s) => TENANT.test(s), {
        error: "may hold only letters A-Z and a-z, digits, '.', '_' and '-'",
      }),
    assignedTo: text(128).nullish(),
    parentVtid: z
      .string({ error: stringError('a string') })
      .trim()
      .refine((s) => parseVtid(s) !== null, {
        error: (issue) => `'${String(issue.input).slice(0, 64)}' is not a valid VTID: ${VTID_FORM}`,
      })
      .nullish(),
    metadata: metadata.default({}),
    isTest: z.boolean({ error: 'must be true or false' }).default(false),
  },
  { error: 'must be a JSON object' }
)

/**
 * A create body to a draft, or the list of `{field, message}` details (one per bad
 * field). `callerTenant` fills a missing `tenant` (the caller's own).
 */
export function parseCreate(body, callerTenant) {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    if (!('tenant' in body) && callerTenant) body = { ...body, tenant: callerTenant }
  }
  const result = createBody.safeParse(body)
  if (result.success) {
    const d = result.data
    return {
      ok: true,
      draft: {
        ...d,
        title: d.title ?? null,
        assignedTo: d.assignedTo ?? null,
        parentVtid: d.parentVtid ?? null,
      },
    }
  }
  return { ok: false, details: details(result.error.issues, callerTenant) }
}

function details(issues, callerTenant) {
  const out = new Map()
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.set(key, `is not a known field (known: ${CREATE_FIELDS.join(', ')})`)
      }
      continue
    }
    const field = issue.path.length ? issue.path.map(String).join('.') : 'body'
    let message = issue.message
    if (field === 'tenant' && message === 'is required' && !callerTenant) {
      message = "is required (the caller's identity carries no tenant)"
    }
    // The first problem of a field is the one to fix first.
    if (!out.has(field)) out.set(field, message)
  }
  return [...out].map(([field, message]) => ({ field, message }))
}
