// The caller, read only from the request context that API Gateway's authorizer filled
// (docs/api.md, "Identity and access"): JWT claims, or an IAM principal acting as `service`.

const ROLE_CLAIM = process.env.VTID_ROLE_CLAIM || 'role'
const TENANT_CLAIM = process.env.VTID_TENANT_CLAIM || 'tenant'
const TENANT = /^[A-Za-z0-9._-]{1,64}$/
const MAX_NAME_CHARS = 256

export class AccessError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

const unauthenticated = () =>
  new AccessError(401, 'unauthenticated', 'this call needs an authenticated caller')

// A claim's words: "admin", HTTP API's "[admin users]", "a,b", or a JSON array.
function words(v) {
  if (typeof v === 'string') return v.split(/[\s[\],"]+/).filter(Boolean)
  if (Array.isArray(v)) return v.flatMap(words)
  return []
}

function fromClaims(claims) {
  const sub = claims.sub
  if (typeof sub !== 'string' || sub === '') throw unauthenticated()
  const roles = words(claims[ROLE_CLAIM])
  const role = roles.includes('admin') ? 'admin' : roles.includes('service') ? 'service' : 'user'
  const t = claims[TENANT_CLAIM]
  let tenant = null
  if (typeof t === 'string' && t !== '') {
    // A tenant claim we cannot honour must not silently widen access.
    if (!TENANT.test(t)) {
      throw new AccessError(403, 'forbidden', "the caller's tenant claim is not a valid tenant")
    }
    tenant = t
  } else if (t !== undefined && t !== null && t !== '') {
    throw new AccessError(403, 'forbidden', "the caller's tenant claim is not a valid tenant")
  }
  return { name: [...sub].slice(0, MAX_NAME_CHARS).join(''), role, tenant }
}

/** The caller of an API Gateway HTTP API (v2) event; throws AccessError 401/403. */
export function callerOf(event) {
  const auth = event?.requestContext?.authorizer
  if (!auth) throw unauthenticated()
  const claims = auth.jwt?.claims
  if (claims && Object.keys(claims).length > 0) return fromClaims(claims)
  if (auth.iam) {
    const name = auth.iam.userArn || auth.iam.callerId || auth.iam.userId
    if (!name) throw unauthenticated()
    return { name: String(name).slice(0, MAX_NAME_CHARS), role: 'service', tenant: null }
  }
  if (auth.lambda && Object.keys(auth.lambda).length > 0) return fromClaims(auth.lambda)
  throw unauthenticated()
}

/** Create: the caller's own tenant, or any tenant for `admin` and `service`. */
export function checkCreate(caller, tenant) {
  if (caller.role === 'admin' || caller.role === 'service' || caller.tenant === tenant) return
  throw new AccessError(403, 'forbidden', `this caller may not create records for tenant '${tenant}'`)
}
