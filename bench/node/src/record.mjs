// The record a draft becomes, its creation history entry, and the item both are stored
// in: the same layout as the Rust store's `record_item` (docs/design.md, "The DynamoDB
// table"), so both implementations write one table the same way.

import { formatVtid, ordinal } from './vtid.mjs'

const TERMINAL = ['complete', 'failed', 'cancelled']
// Fields every change touches, so they are not themselves "changes".
const BOOKKEEPING = ['vtid', 'version', 'updatedAt', 'updatedBy']

/** The record `draft` becomes as number `seq` of `year`; timestamps follow the status. */
export function toRecord(draft, year, seq, by, now) {
  const completedAt = TERMINAL.includes(draft.status) ? now : null
  return {
    vtid: formatVtid(year, seq),
    taskFamily: draft.taskFamily,
    taskType: draft.taskType,
    title: draft.title,
    description: draft.description,
    status: draft.status,
    tenant: draft.tenant,
    assignedTo: draft.assignedTo,
    parentVtid: draft.parentVtid,
    metadata: draft.metadata,
    isTest: draft.isTest,
    createdAt: now,
    updatedAt: now,
    startedAt: draft.status === 'active' ? now : null,
    completedAt,
    durationSeconds: completedAt === null ? null : 0,
    createdBy: by,
    updatedBy: by,
    version: 1,
  }
}

/** History version 1: every field that has a value, from nothing. */
export function creationEntry(record) {
  const changes = {}
  for (const key of Object.keys(record).sort()) {
    if (BOOKKEEPING.includes(key) || record[key] === null) continue
    changes[key] = { before: null, after: record[key] }
  }
  return {
    vtid: record.vtid,
    action: 'created',
    fromVersion: null,
    toVersion: record.version,
    at: record.createdAt,
    by: record.createdBy,
    changes,
  }
}

/** The record item: the JSON document plus the attributes the indexes and filters use. */
export function recordItem(record, year, seq) {
  const item = {
    pk: record.vtid,
    sk: 'RECORD',
    ord: ordinal(year, seq),
    listAll: 'ALL',
    year,
    taskFamily: record.taskFamily,
    status: record.status,
    tenant: record.tenant,
    isTest: record.isTest,
    version: record.version,
    doc: JSON.stringify(record),
    created: JSON.stringify(creationEntry(record)),
  }
  // Left out when null, so the sparse indexes skip the record.
  if (record.assignedTo !== null) item.assignedTo = record.assignedTo
  if (record.parentVtid !== null) item.parentVtid = record.parentVtid
  return item
}
