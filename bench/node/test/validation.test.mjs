// The create body's rules, on fake bodies (pure logic: no store involved).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MAX_METADATA_BYTES, parseCreate } from '../src/validation.mjs'

const fields = (r) => r.details.map((d) => d.field).sort()
const minimal = { taskFamily: '  deploy ', taskType: 'release', description: 'x', tenant: 'acme' }

test('a minimal create gets its defaults and is trimmed', () => {
  const r = parseCreate(minimal, null)
  assert.equal(r.ok, true)
  assert.equal(r.draft.taskFamily, 'deploy')
  assert.equal(r.draft.status, 'pending')
  assert.equal(r.draft.isTest, false)
  assert.deepEqual(r.draft.metadata, {})
  assert.equal(r.draft.parentVtid, null)
})

test('every bad field is named once', () => {
  const r = parseCreate(
    {
      taskFamily: '   ', taskType: 5, description: 'x'.repeat(4001), tenant: 'a b', status: 'done',
      parentVtid: 'VTID-2026-42', metadata: [], isTest: 'yes', assignedTo: '', title: 't\u0007', colour: 1,
    },
    null
  )
  assert.equal(r.ok, false)
  assert.deepEqual(fields(r), [
    'assignedTo', 'colour', 'description', 'isTest', 'metadata', 'parentVtid', 'status',
    'taskFamily', 'taskType', 'tenant', 'title',
  ])
})

test('missing fields are required; the caller tenant fills a missing tenant', () => {
  const r = parseCreate({}, null)
  assert.deepEqual(fields(r), ['description', 'taskFamily', 'taskType', 'tenant'])
  assert.match(r.details.find((d) => d.field === 'tenant').message, /caller's identity carries no tenant/)
  const d = parseCreate({ taskFamily: 'a', taskType: 'b', description: 'c' }, 't1')
  assert.equal(d.draft.tenant, 't1')
})

test('lengths count characters, not UTF-16 units', () => {
  assert.equal(parseCreate({ ...minimal, taskFamily: '😀'.repeat(64) }, null).ok, true)
  assert.deepEqual(fields(parseCreate({ ...minimal, taskFamily: 'é'.repeat(65) }, null)), ['taskFamily'])
})

test('descriptions keep line breaks, other text refuses control characters', () => {
  assert.equal(parseCreate({ ...minimal, description: 'a\nb\tc' }, null).ok, true)
  assert.deepEqual(fields(parseCreate({ ...minimal, taskType: 'a\nb' }, null)), ['taskType'])
})

test('metadata size and depth', () => {
  const deep8 = { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } }
  assert.equal(parseCreate({ ...minimal, metadata: deep8 }, null).ok, true)
  assert.deepEqual(fields(parseCreate({ ...minimal, metadata: { a: deep8 } }, null)), ['metadata'])
  assert.deepEqual(fields(parseCreate({ ...minimal, metadata: { a: [[[[[[[[1]]]]]]]] } }, null)), ['metadata'])
  const big = { a: 'x'.repeat(MAX_METADATA_BYTES) }
  assert.deepEqual(fields(parseCreate({ ...minimal, metadata: big }, null)), ['metadata'])
})

test('a body that is not an object is one detail', () => {
  assert.deepEqual(parseCreate([], null).details, [{ field: 'body', message: 'must be a JSON object' }])
})
