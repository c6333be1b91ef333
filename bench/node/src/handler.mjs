// POST /vtid/create as a Node.js 20 Lambda handler behind API Gateway HTTP API (payload
// 2.0): identity from the authorizer's context, the body checked with Zod, the number
// from @nasa-gcn/dynamodb-autoincrement, the record written in the ledger's layout.
// Answers as the Rust function does: 201, Location, ETag, {ok, vtid, data}.

import { AccessError, callerOf, checkCreate } from './identity.mjs'
import { parentExists, createRecord } from './store.mjs'
import { MAX_BODY_BYTES, parseCreate } from './validation.mjs'

// Errors the caller may retry: DynamoDB throttled or unavailable after the SDK's retries.
const UNAVAILABLE = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
])

function reply(statusCode, body, headers = {}) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }
}

function failure(statusCode, code, error, details = [], headers = {}) {
  return reply(statusCode, { ok: false, error, code, details }, headers)
}

function invalid(details) {
  const fields = details.map((d) => d.field).join(', ')
  return failure(400, 'invalid_payload', `the request body is not valid: check ${fields}`, details)
}

function bodyOf(event) {
  const raw = event.body ?? ''
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw)
  if (bytes.length > MAX_BODY_BYTES) {
    return { response: failure(413, 'payload_too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`) }
  }
  const text = bytes.toString('utf8')
  if (text.trim() === '') {
    return { response: invalid([{ field: 'body', message: 'a JSON object is required' }]) }
  }
  try {
    return { value: JSON.parse(text) }
  } catch {
    return { response: invalid([{ field: 'body', message: 'is not valid JSON' }]) }
  }
}

export async function handler(event, context) {
  try {
    const caller = callerOf(event)
    const body = bodyOf(event)
    if (body.response) return body.response
    const parsed = parseCreate(body.value, caller.tenant)
    if (!parsed.ok) return invalid(parsed.details)
    const draft = parsed.draft
    checkCreate(caller, draft.tenant)
    if (draft.parentVtid !== null && !(await parentExists(draft.parentVtid))) {
      return failure(422, 'parent_not_found', `parent VTID ${draft.parentVtid} does not exist`, [
        { field: 'parentVtid', message: `${draft.parentVtid} does not exist` },
      ])
    }
    const record = await createRecord(draft, caller.name)
    return reply(201, { ok: true, vtid: record.vtid, data: record }, {
      location: `/vtid/${record.vtid}`,
      etag: `"${record.version}"`,
    })
  } catch (e) {
    if (e instanceof AccessError) return failure(e.status, e.code, e.message)
    const requestId = context?.awsRequestId
    if (UNAVAILABLE.has(e?.name)) {
      console.warn(JSON.stringify({ level: 'WARN', requestId, error: e.name, message: 'store unavailable' }))
      return failure(503, 'unavailable', "the ledger's store is not reachable right now; retry shortly", [], {
        'retry-after': '1',
      })
    }
    console.error(JSON.stringify({ level: 'ERROR', requestId, error: e?.name, cause: String(e?.message) }))
    return failure(500, 'internal', 'an internal error occurred; it has been logged')
  }
}
