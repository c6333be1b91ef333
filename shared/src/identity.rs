//! Who is calling, read only from the request context that API Gateway's authorizer
//! filled (or that a direct invoker, who already holds invoke permission, supplied),
//! and what each caller may do (SPEC section 6). Never from a header or the body.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::error::ApiError;
use crate::validation::tenant_chars;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Service,
    User,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// `sub`, or the IAM principal's ARN.
    pub name: String,
    pub role: Role,
    pub tenant: Option<String>,
}

/// Whether reads are open to every authenticated caller or kept to the caller's tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReadScope {
    #[default]
    All,
    OwnTenant,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityConfig {
    pub role_claim: String,
    pub tenant_claim: String,
    pub reads: ReadScope,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            role_claim: "role".into(),
            tenant_claim: "tenant".into(),
            reads: ReadScope::All,
        }
    }
}

const MAX_NAME_CHARS: usize = 256;

impl IdentityConfig {
    /// The caller of `req`, or 401 when the context carries no identity.
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        let Some(auth) = ctx.authorizer.as_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        if let Some(jwt) = auth.jwt.as_ref().filter(|j| !j.claims.is_empty()) {
            let claims: HashMap<&str, Value> = jwt
                .claims
                .iter()
                .map(|(k, v)| (k.as_str(), Value::String(v.clone())))
                .collect();
            return self.caller_from_claims(&claims);
        }
        if let Some(iam) = auth.iam.as_ref() {
            // SigV4 callers are other cloud functions: they act as `service`.
            let name = iam
                .user_arn
                .clone()
                .or_else(|| iam.caller_id.clone())
                .or_else(|| iam.user_id.clone());
            return match name.filter(|n| !n.is_empty()) {
                Some(name) => Ok(Caller {
                    name: bounded(name),
                    role: Role::Service,
                    tenant: None,
                }),
                None => Err(ApiError::Unauthenticated),
            };
        }
        if !auth.fields.is_empty() {
            let claims: HashMap<&str, Value> = auth
                .fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            return self.caller_from_claims(&claims);
        }
        Err(ApiError::Unauthenticated)
    }

    fn caller_from_claims(&self, claims: &HashMap<&str, Value>) -> Result<Caller, ApiError> {
        let name = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let Some(name) = name else {
            return Err(ApiError::Unauthenticated);
        };
        let roles = claims
            .get(self.role_claim.as_str())
            .map(claim_words)
            .unwrap_or_default();
        let role = if roles.iter().any(|r| r == "admin") {
            Role::Admin
        } else if roles.iter().any(|r| r == "service") {
            Role::Service
        } else {
            Role::User
        };
        let tenant = match claims.get(self.tenant_claim.as_str()) {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.is_empty() => None,
            Some(Value::String(t)) if t.len() <= 64 && tenant_chars(t).is_ok() => Some(t.clone()),
            // A tenant claim we cannot honour must not silently widen access.
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "the caller's tenant claim is not a valid tenant".into(),
                ));
            }
        };
        Ok(Caller {
            name: bounded(name.to_owned()),
            role,
            tenant,
        })
    }
}

fn bounded(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_NAME_CHARS) {
        s.truncate(i);
    }
    s
}

/// A claim's words: a string (`"admin"`, HTTP API's `"[admin users]"`, `"a,b"`) or a JSON array.
fn claim_words(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | '"'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(a) => a.iter().flat_map(claim_words).collect(),
        _ => Vec::new(),
    }
}

impl Caller {
    pub fn is_privileged(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Service)
    }

    /// Whether this caller may read a record of `tenant`.
    pub fn may_read(&self, reads: ReadScope, tenant: &str) -> bool {
        reads == ReadScope::All || self.is_privileged() || self.tenant.as_deref() == Some(tenant)
    }

    /// Create: own tenant, or any tenant for `admin` and `service`.
    pub fn check_create(&self, tenant: &str) -> Result<(), ApiError> {
        if self.is_privileged() || self.tenant.as_deref() == Some(tenant) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this caller may not create records for tenant '{tenant}'"
            )))
        }
    }

    /// The tenant a PATCH is limited to: `None` for `admin` and `service`.
    pub fn update_guard(&self) -> Option<String> {
        match self.is_privileged() {
            true => None,
            // A caller with no tenant may update no record: the empty tenant matches none.
            false => Some(self.tenant.clone().unwrap_or_default()),
        }
    }

    pub fn check_audit(&self) -> Result<(), ApiError> {
        match self.is_privileged() {
            true => Ok(()),
            false => Err(ApiError::Forbidden(
                "the audit is for admin and service callers only".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> HashMap<&'static str, Value> {
        let m: HashMap<String, Value> = serde_json::from_value(v).unwrap();
        m.into_iter()
            .map(|(k, v)| (&*Box::leak(k.into_boxed_str()), v))
            .collect()
    }

    #[test]
    fn roles_from_http_api_list_strings() {
        let cfg = IdentityConfig {
            role_claim: "cognito:groups".into(),
            ..Default::default()
        };
        let c = cfg
            .caller_from_claims(&claims(
                json!({"sub": "u1", "cognito:groups": "[users admin]"}),
            ))
            .unwrap();
        assert_eq!(c.role, Role::Admin);
        let c = cfg
            .caller_from_claims(&claims(json!({"sub": "u1", "cognito:groups": ["service"]})))
            .unwrap();
        assert_eq!(c.role, Role::Service);
        let c = cfg
            .caller_from_claims(&claims(json!({"sub": "u1", "role": "admin"})))
            .unwrap();
        assert_eq!(c.role, Role::User, "only the configured claim counts");
    }

    #[test]
    fn no_sub_is_unauthenticated_and_bad_tenant_is_refused() {
        let cfg = IdentityConfig::default();
        assert!(matches!(
            cfg.caller_from_claims(&claims(json!({"role": "admin"}))),
            Err(ApiError::Unauthenticated)
        ));
        assert!(matches!(
            cfg.caller_from_claims(&claims(json!({"sub": "a", "tenant": "a b"}))),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn rules() {
        let user = Caller {
            name: "u".into(),
            role: Role::User,
            tenant: Some("acme".into()),
        };
        let admin = Caller {
            name: "a".into(),
            role: Role::Admin,
            tenant: None,
        };
        assert!(user.check_create("acme").is_ok());
        assert!(user.check_create("other").is_err());
        assert!(admin.check_create("other").is_ok());
        assert!(user.may_read(ReadScope::All, "other"));
        assert!(!user.may_read(ReadScope::OwnTenant, "other"));
        assert!(user.check_audit().is_err() && admin.check_audit().is_ok());
        let lost = Caller {
            name: "n".into(),
            role: Role::User,
            tenant: None,
        };
        assert_eq!(lost.update_guard(), Some(String::new()));
    }
}
