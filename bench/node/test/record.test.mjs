// The record, its creation entry and its item, from a fixed draft and time.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { creationEntry, recordItem, toRecord } from '../src/record.mjs'
import { formatVtid, parseVtid } from '../src/vtid.mjs'

const draft = {
  taskFamily: 'deploy', taskType: 'release', title: null, description: 'd', status: 'complete',
  tenant: 'acme', assignedTo: 'ana', parentVtid: null, metadata: { pr: 7 }, isTest: false,
}
const now = '2026-03-01T10:00:00.000Z'

test('VTIDs print padded to four digits and longer past 9999, and parse only canonical', () => {
  assert.equal(formatVtid(2026, 42), 'VTID-2026-0042')
  assert.equal(formatVtid(2026, 10000), 'VTID-2026-10000')
  assert.deepEqual(parseVtid('VTID-2026-10000'), { year: 2026, seq: 10000 })
  for (const bad of ['vtid-2026-0042', 'VTID-2026-42', 'VTID-2026-00042', 'VTID-26-0042', 'VTID-2026-0000', 'VTID-1969-0001']) {
    assert.equal(parseVtid(bad), null, bad)
  }
})

test('a record created complete has its completion set and a zero duration', () => {
  const r = toRecord(draft, 2026, 42, 'bench', now)
  assert.equal(r.vtid, 'VTID-2026-0042')
  assert.equal(r.completedAt, now)
  assert.equal(r.startedAt, null)
  assert.equal(r.durationSeconds, 0)
  assert.equal(r.version, 1)
})

test('the creation entry holds every field with a value, bookkeeping left out', () => {
  const e = creationEntry(toRecord(draft, 2026, 42, 'bench', now))
  assert.equal(e.action, 'created')
  assert.equal(e.fromVersion, null)
  assert.equal(e.toVersion, 1)
  assert.ok(!('title' in e.changes) && !('vtid' in e.changes) && !('updatedAt' in e.changes))
  assert.deepEqual(e.changes.metadata, { before: null, after: { pr: 7 } })
  assert.deepEqual(Object.keys(e.changes), Object.keys(e.changes).sort())
})

test('the item sorts numerically and leaves null filter attributes out', () => {
  const item = recordItem(toRecord(draft, 2026, 10000, 'bench', now), 2026, 10000)
  assert.equal(item.pk, 'VTID-2026-10000')
  assert.equal(item.sk, 'RECORD')
  assert.equal(item.ord, 20260000010000)
  assert.equal(item.assignedTo, 'ana')
  assert.ok(!('parentVtid' in item))
  assert.equal(JSON.parse(item.doc).vtid, 'VTID-2026-10000')
})
