// A minimal Lambda Runtime API client, in the place of Lambda's own Node.js runtime
// (which is not on this machine): load the handler named by `_HANDLER` under
// `LAMBDA_TASK_ROOT`, then loop on GET .../invocation/next, call the handler and POST its
// result (or its error) back. A handler that fails to load is reported to .../init/error.

import http from 'node:http'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const API = process.env.AWS_LAMBDA_RUNTIME_API
const PREFIX = '/2018-06-01/runtime'
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

function call(method, path, body) {
  const [host, port] = API.split(':')
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method,
        path: PREFIX + path,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      }
    )
    req.on('error', reject)
    req.end(body)
  })
}

function errorBody(e) {
  return JSON.stringify({
    errorType: e?.name ?? 'Error',
    errorMessage: String(e?.message ?? e),
  })
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd()
  const spec = process.env._HANDLER || 'index.handler'
  const dot = spec.lastIndexOf('.')
  const [file, name] = [spec.slice(0, dot), spec.slice(dot + 1)]
  const path = ['.mjs', '.js', '.cjs'].map((ext) => join(root, file + ext)).find(existsSync)
  if (!path) throw new Error(`no module ${file} under ${root}`)
  const fn = (await import(pathToFileURL(path).href))[name]
  if (typeof fn !== 'function') throw new Error(`${spec} is not a function`)
  return fn
}

let handler
try {
  handler = await loadHandler()
} catch (e) {
  await call('POST', '/init/error', errorBody(e))
  process.exit(1)
}

for (;;) {
  const next = await call('GET', '/invocation/next')
  const id = next.headers['lambda-runtime-aws-request-id']
  const deadline = Number(next.headers['lambda-runtime-deadline-ms'])
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  }
  try {
    const result = await handler(JSON.parse(next.body), context)
    await call('POST', `/invocation/${id}/response`, JSON.stringify(result))
  } catch (e) {
    await call('POST', `/invocation/${id}/error`, errorBody(e))
  }
}
