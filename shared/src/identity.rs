//! Who is calling, read only from the request context that API Gateway's authorizer
//! filled (or that a direct invoker, who already holds invoke permission, supplied),
//! and what each caller may do (docs/api.md, "Identity and access"). Never from a header or the body.

use std::collections::HashMap;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::error::ApiError;
use crate::validation::is_tenant;
use crate::vtid::printable;

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
/// Bounds of a role claim: its text, and the entries of an array.
const MAX_ROLE_CLAIM_CHARS: usize = 4096;
const MAX_ROLE_ENTRIES: usize = 100;

/// A caller's claims as JSON values. API Gateway's JWT authorizer hands them on as
/// strings; a Lambda authorizer and `vtid serve` as the JSON values they are. One reader
/// ([`IdentityConfig::caller_from_claims`]) applies the same rules to both.
pub type Claims = HashMap<String, Value>;

impl IdentityConfig {
    /// The caller of `req`: 401 when the context carries no identity, 403 when it
    /// carries one the ledger cannot honour (a malformed claim).
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        let Some(auth) = ctx.authorizer.as_ref() else {
            return Err(ApiError::Unauthenticated);
        };
        if let Some(jwt) = auth.jwt.as_ref().filter(|j| !j.claims.is_empty()) {
            let claims: Claims = jwt
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
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
                    name: caller_name(name)?,
                    role: Role::Service,
                    tenant: None,
                }),
                None => Err(ApiError::Unauthenticated),
            };
        }
        if !auth.fields.is_empty() {
            return self.caller_from_claims(&auth.fields);
        }
        Err(ApiError::Unauthenticated)
    }

    /// The one claim reader (docs/api.md, "The claim rules"):
    /// - `sub`: a non-empty string without control characters (missing, null or empty:
    ///   401; any other value: 403);
    /// - the role claim: a string (`admin`, HTTP API's `[users admin]`, `a,b`) or an array
    ///   of strings; missing or null: a plain user; any other JSON type: 403;
    /// - the tenant claim: a valid tenant string; missing, null or empty: no tenant; any
    ///   other value: 403.
    ///
    /// Nothing is ever turned into text and then read as a role or a tenant.
    pub fn caller_from_claims(&self, claims: &Claims) -> Result<Caller, ApiError> {
        let name = match claims.get("sub") {
            None | Some(Value::Null) => return Err(ApiError::Unauthenticated),
            Some(Value::String(s)) if s.is_empty() => return Err(ApiError::Unauthenticated),
            Some(Value::String(s)) => caller_name(s.clone())?,
            Some(_) => return Err(malformed("the 'sub' claim must be a string")),
        };
        let roles = match claims.get(self.role_claim.as_str()) {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => role_names(v).ok_or_else(|| {
                malformed(&format!(
                    "the '{}' claim must be a role name or an array of role names \
                     (printable text, at most {MAX_ROLE_ENTRIES} names)",
                    printable(&self.role_claim)
                ))
            })?,
        };
        let role = if roles.contains(&"admin") {
            Role::Admin
        } else if roles.contains(&"service") {
            Role::Service
        } else {
            Role::User
        };
        let tenant = match claims.get(self.tenant_claim.as_str()) {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.is_empty() => None,
            Some(Value::String(t)) if is_tenant(t) => Some(t.clone()),
            // A tenant claim we cannot honour must not silently widen access.
            Some(_) => {
                return Err(ApiError::Forbidden(
                    "the caller's tenant claim is not a valid tenant".into(),
                ));
            }
        };
        Ok(Caller { name, role, tenant })
    }
}

fn malformed(why: &str) -> ApiError {
    ApiError::Forbidden(format!("the caller's identity is malformed: {why}"))
}

/// A caller's name (`sub` or ARN) as stored in `createdBy`: no control characters, cut
/// to 256 characters.
fn caller_name(mut s: String) -> Result<String, ApiError> {
    if s.chars().any(char::is_control) {
        return Err(malformed("the caller's name contains control characters"));
    }
    if let Some((i, _)) = s.char_indices().nth(MAX_NAME_CHARS) {
        s.truncate(i);
    }
    Ok(s)
}

/// The role names of a role claim, or `None` when the claim is malformed. A string is
/// one name (`"admin"`), HTTP API's list form (`"[users admin]"`) or a comma-separated
/// list (`"a,b"`); only those brackets are taken off, so JSON text in a string
/// (`{"admin":false}`) stays one odd name that grants nothing. Names are separated by
/// spaces (U+0020) and commas only: any other whitespace (a tab, U+00A0, U+3000, U+2028)
/// is part of a name, so `"user\u{a0}admin"` is one name that grants nothing. An array
/// holds one name per entry, each a string.
fn role_names(v: &Value) -> Option<Vec<&str>> {
    let printable = |s: &str| !s.chars().any(|c| c.is_control() && !c.is_whitespace());
    match v {
        Value::String(s) if s.chars().count() <= MAX_ROLE_CLAIM_CHARS && printable(s) => {
            let s = s.trim();
            let list = s
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(s);
            Some(list.split([' ', ',']).filter(|w| !w.is_empty()).collect())
        }
        Value::Array(a) if a.len() <= MAX_ROLE_ENTRIES => a
            .iter()
            .map(|e| match e {
                Value::String(s) if s.chars().count() <= MAX_NAME_CHARS && printable(s) => {
                    Some(s.as_str())
                }
                _ => None,
            })
            .collect(),
        _ => None,
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

    fn claims(v: Value) -> Claims {
        serde_json::from_value(v).unwrap()
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
    fn only_spaces_and_commas_separate_role_names() {
        let cfg = IdentityConfig::default();
        let role = |v: &str| {
            cfg.caller_from_claims(&claims(json!({"sub": "u1", "role": v})))
                .unwrap()
                .role
        };
        assert_eq!(role("user admin"), Role::Admin);
        assert_eq!(role("user,admin"), Role::Admin);
        for sep in ['\u{a0}', '\u{3000}', '\u{2028}', '\u{85}', '\t'] {
            let v = format!("user{sep}admin");
            assert_eq!(role(&v), Role::User, "{v:?} made the caller admin");
        }
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
    fn claims_of_another_json_type_are_refused_never_read_as_text() {
        let cfg = IdentityConfig::default();
        let forbidden = |v: Value| {
            matches!(
                cfg.caller_from_claims(&claims(v)),
                Err(ApiError::Forbidden(_))
            )
        };
        for role in [
            json!({"admin": false}),
            json!([{"admin": true}]),
            json!(["admin", 1]),
            json!([["admin"]]),
            json!(true),
            json!(7),
            json!("ad\u{0}min"),
        ] {
            assert!(forbidden(json!({"sub": "u", "role": role})), "role {role}");
        }
        for tenant in [
            json!(true),
            json!(false),
            json!(0),
            json!(["acme"]),
            json!({"t": "acme"}),
        ] {
            assert!(
                forbidden(json!({"sub": "u", "tenant": tenant})),
                "tenant {tenant}"
            );
        }
        for sub in [json!(5), json!(["a"]), json!("a\nb"), json!("nul\u{0}")] {
            assert!(forbidden(json!({"sub": sub})), "sub {sub}");
        }
        let none = cfg
            .caller_from_claims(&claims(json!({"sub": "u", "tenant": null, "role": null})))
            .unwrap();
        assert_eq!((none.role, none.tenant), (Role::User, None));
        assert!(matches!(
            cfg.caller_from_claims(&claims(json!({"sub": null}))),
            Err(ApiError::Unauthenticated)
        ));
        // Array entries are names, not lists to split; JSON text in a string is one name.
        for role in [
            json!(["[admin]", "x y"]),
            json!("{\"admin\":false}"),
            json!("[{\"admin\": true}]"),
            json!("[[admin]]"),
        ] {
            let c = cfg
                .caller_from_claims(&claims(json!({"sub": "u", "role": role})))
                .unwrap();
            assert_eq!(c.role, Role::User, "{role}");
        }
        let c = cfg
            .caller_from_claims(&claims(json!({"sub": "u", "role": " [users, admin] "})))
            .unwrap();
        assert_eq!(c.role, Role::Admin);
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
