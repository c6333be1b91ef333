//! Access (docs/api.md, "Identity and access"), rule by rule, for each kind of identity, through API Gateway v2
//! events: identity comes from the request context only.

use serde_json::{Value, json};
use shared::identity::{IdentityConfig, ReadScope};
use vtid_tests::{Api, Kind, Req, Resp, Who};

fn rec(tenant: &str) -> Value {
    json!({"taskFamily": "f", "taskType": "t", "description": "d", "tenant": tenant})
}

async fn api() -> Api {
    Api::new(Kind::Sqlite).await
}

async fn as_(api: &Api, who: Who, req: Req) -> Resp {
    api.send(req.who(who)).await
}

/// `who` sends `req` and is refused: 403 forbidden.
async fn forbidden(api: &Api, who: Who, req: Req) {
    as_(api, who, req).await.assert_error(403, "forbidden");
}

#[tokio::test]
async fn no_identity_is_401_everywhere_but_health() {
    let api = api().await;
    let v = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls = [
        Req::new("POST", "/vtid/create").json(rec("acme")),
        Req::new("POST", "/vtid/batch").json(json!({"items": [rec("acme")]})),
        Req::new("GET", &format!("/vtid/{v}")),
        Req::new("PATCH", &format!("/vtid/{v}")).json(json!({"status": "active"})),
        Req::new("GET", "/vtid/list"),
        Req::new("GET", &format!("/vtid/{v}/history")),
        Req::new("GET", "/vtid/audit"),
        // An empty claim set is no identity either.
        Req::new("GET", "/vtid/list"),
    ];
    for (i, req) in calls.into_iter().enumerate() {
        let who = if i == 7 {
            Who::Jwt(json!({}))
        } else {
            Who::Nobody
        };
        as_(&api, who, req)
            .await
            .assert_error(401, "unauthenticated");
    }
    let head = as_(&api, Who::Nobody, Req::new("HEAD", &format!("/vtid/{v}"))).await;
    assert_eq!((head.status, head.raw.as_str()), (401, ""));
    let no_sub = as_(
        &api,
        Who::Jwt(json!({"role": "admin", "tenant": "acme"})),
        Req::new("GET", "/vtid/list"),
    )
    .await;
    no_sub.assert_error(401, "unauthenticated");
    let health = as_(&api, Who::Nobody, Req::new("GET", "/vtid/health")).await;
    assert_eq!(health.status, 200);
    assert_eq!(
        api.get("/vtid/list").await.body["count"],
        1,
        "the refused calls created nothing"
    );
}

#[tokio::test]
async fn users_create_for_their_own_tenant_only() {
    let api = api().await;
    let user = Who::user("acme");
    let own = as_(
        &api,
        user.clone(),
        Req::new("POST", "/vtid/create").json(rec("acme")),
    )
    .await;
    assert_eq!(own.status, 201, "{}", own.raw);
    assert_eq!(own.body["data"]["createdBy"], "user-of-acme");
    let defaulted = as_(
        &api,
        user.clone(),
        Req::new("POST", "/vtid/create")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    assert_eq!(defaulted.status, 201, "{}", defaulted.raw);
    assert_eq!(defaulted.body["data"]["tenant"], "acme");
    forbidden(
        &api,
        user.clone(),
        Req::new("POST", "/vtid/create").json(rec("umbrella")),
    )
    .await;
    let batch = as_(
        &api,
        user,
        Req::new("POST", "/vtid/batch").json(json!({"items": [rec("acme"), rec("umbrella")]})),
    )
    .await;
    batch.assert_error(403, "forbidden");
    // A caller with no tenant must name one, and may not name any.
    let lost = Who::Jwt(json!({"sub": "drifter"}));
    let r = as_(
        &api,
        lost.clone(),
        Req::new("POST", "/vtid/create")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    r.assert_error(400, "invalid_payload");
    assert_eq!(r.detail_fields(), ["tenant"]);
    forbidden(
        &api,
        lost,
        Req::new("POST", "/vtid/create").json(rec("acme")),
    )
    .await;
    assert_eq!(api.get("/vtid/list").await.body["count"], 2);
}

#[tokio::test]
async fn admin_service_iam_and_lambda_authorizer_create_for_any_tenant() {
    let api = api().await;
    let callers = [
        (Who::admin(), "admin-1"),
        (
            Who::Jwt(json!({"sub": "ci-pipeline", "role": "service", "tenant": "acme"})),
            "ci-pipeline",
        ),
        (
            Who::Iam("arn:aws:sts::123456789012:assumed-role/deployer/fn".into()),
            "arn:aws:sts::123456789012:assumed-role/deployer/fn",
        ),
        (
            Who::LambdaAuthorizer(json!({"sub": "agent-7", "role": ["service"]})),
            "agent-7",
        ),
    ];
    for (who, name) in callers {
        let r = as_(
            &api,
            who.clone(),
            Req::new("POST", "/vtid/create").json(rec("umbrella")),
        )
        .await;
        assert_eq!(r.status, 201, "{name}: {}", r.raw);
        assert_eq!(r.body["data"]["createdBy"], name);
        let v = r.body["vtid"].as_str().unwrap().to_owned();
        let p = as_(
            &api,
            who.clone(),
            Req::new("PATCH", &format!("/vtid/{v}")).json(json!({"status": "active"})),
        )
        .await;
        assert_eq!(p.status, 200, "{name}: {}", p.raw);
        assert_eq!(p.body["data"]["updatedBy"], name);
        assert_eq!(
            as_(&api, who, Req::new("GET", "/vtid/audit")).await.status,
            200,
            "{name} audits"
        );
    }
    let plain_lambda = Who::LambdaAuthorizer(json!({"sub": "agent-8", "tenant": "acme"}));
    forbidden(
        &api,
        plain_lambda,
        Req::new("POST", "/vtid/create").json(rec("umbrella")),
    )
    .await;
}

#[tokio::test]
async fn updates_are_for_the_records_tenant_admin_and_service() {
    let api = api().await;
    let v = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/vtid/{v}");
    let own = as_(
        &api,
        Who::user("acme"),
        Req::new("PATCH", &path).json(json!({"title": "mine"})),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.raw);
    forbidden(
        &api,
        Who::user("umbrella"),
        Req::new("PATCH", &path).json(json!({"title": "theirs"})),
    )
    .await;
    forbidden(
        &api,
        Who::Jwt(json!({"sub": "nobody-in-particular"})),
        Req::new("PATCH", &path).json(json!({"title": "x"})),
    )
    .await;
    let svc = Who::Jwt(json!({"sub": "svc", "role": "service", "tenant": "umbrella"}));
    assert_eq!(
        as_(
            &api,
            svc,
            Req::new("PATCH", &path).json(json!({"title": "svc"}))
        )
        .await
        .status,
        200
    );
    let d = api.get(&path).await.body["data"].clone();
    assert_eq!(
        (d["title"].as_str(), d["version"].as_u64()),
        (Some("svc"), Some(3)),
        "refused PATCHes changed nothing"
    );
    as_(&api, Who::user("acme"), Req::new("DELETE", &path))
        .await
        .assert_error(405, "method_not_allowed");
    as_(&api, Who::admin(), Req::new("DELETE", &path))
        .await
        .assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn audit_is_for_admin_and_service_only() {
    let api = api().await;
    as_(&api, Who::user("acme"), Req::new("GET", "/vtid/audit"))
        .await
        .assert_error(403, "forbidden");
    let svc = Who::Jwt(json!({"sub": "svc", "role": "service"}));
    assert_eq!(
        as_(&api, svc, Req::new("GET", "/vtid/audit")).await.status,
        200
    );
}

#[tokio::test]
async fn reads_are_open_to_every_authenticated_caller_by_default() {
    let api = api().await;
    let v = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = Who::user("umbrella");
    assert_eq!(
        as_(&api, other.clone(), Req::new("GET", &format!("/vtid/{v}")))
            .await
            .status,
        200
    );
    assert_eq!(
        as_(&api, other.clone(), Req::new("HEAD", &format!("/vtid/{v}")))
            .await
            .status,
        200
    );
    assert_eq!(
        as_(
            &api,
            other.clone(),
            Req::new("GET", &format!("/vtid/{v}/history"))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        as_(&api, other, Req::new("GET", "/vtid/list")).await.body["count"],
        1
    );
}

#[tokio::test]
async fn reads_can_be_kept_to_the_callers_tenant() {
    let identity = IdentityConfig {
        reads: ReadScope::OwnTenant,
        ..IdentityConfig::default()
    };
    let api = Api::with_identity(Kind::Sqlite, identity).await;
    let a = api.create(rec("acme")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = api.create(rec("umbrella")).await["vtid"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = Who::user("umbrella");
    as_(&api, user.clone(), Req::new("GET", &format!("/vtid/{a}")))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        as_(&api, user.clone(), Req::new("HEAD", &format!("/vtid/{a}")))
            .await
            .status,
        404
    );
    as_(
        &api,
        user.clone(),
        Req::new("GET", &format!("/vtid/{a}/history")),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(
        as_(&api, user.clone(), Req::new("GET", &format!("/vtid/{u}")))
            .await
            .status,
        200
    );
    let list = as_(&api, user.clone(), Req::new("GET", "/vtid/list")).await;
    assert_eq!(list.body["count"], 1);
    assert_eq!(list.body["data"][0]["vtid"], u);
    as_(&api, user, Req::new("GET", "/vtid/list?tenant=acme"))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        api.get("/vtid/list").await.body["count"],
        2,
        "admin reads every tenant"
    );
}

#[tokio::test]
async fn no_header_or_body_field_raises_a_role_or_changes_a_tenant() {
    let api = api().await;
    let user = Who::user("acme");
    let spoof = Req::new("POST", "/vtid/create")
        .header("X-Role", "admin")
        .header("X-Tenant", "umbrella")
        .header("X-Amzn-Oidc-Identity", "admin")
        .header(
            "Authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290Iiwicm9sZSI6ImFkbWluIn0.",
        )
        .json(rec("umbrella"));
    as_(&api, user.clone(), spoof)
        .await
        .assert_error(403, "forbidden");
    for field in ["role", "createdBy", "updatedBy", "caller", "sub"] {
        let mut b = rec("acme");
        b[field] = json!("admin");
        let r = as_(&api, user.clone(), Req::new("POST", "/vtid/create").json(b)).await;
        r.assert_error(400, "invalid_payload");
        assert_eq!(r.detail_fields(), [field]);
    }
    forbidden(
        &api,
        user.clone(),
        Req::new("GET", "/vtid/audit").header("X-Role", "admin"),
    )
    .await;
    // A role claim under another name than the configured one does not count.
    forbidden(
        &api,
        Who::Jwt(json!({"sub": "u", "tenant": "acme", "roles": "admin"})),
        Req::new("GET", "/vtid/audit"),
    )
    .await;
}

#[tokio::test]
async fn claim_names_are_configuration_as_for_cognito() {
    let identity = IdentityConfig {
        role_claim: "cognito:groups".into(),
        tenant_claim: "custom:tenant".into(),
        ..Default::default()
    };
    let api = Api::with_identity(Kind::Sqlite, identity).await;
    // HTTP API hands list claims on as "[a b]" strings.
    let cognito_admin = Who::Jwt(json!({"sub": "abc", "cognito:groups": "[users admin]"}));
    let r = as_(
        &api,
        cognito_admin,
        Req::new("POST", "/vtid/create").json(rec("anyone")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let cognito_user =
        Who::Jwt(json!({"sub": "def", "cognito:groups": "[users]", "custom:tenant": "acme"}));
    let r = as_(
        &api,
        cognito_user.clone(),
        Req::new("POST", "/vtid/create")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    assert_eq!(r.body["data"]["tenant"], "acme");
    forbidden(
        &api,
        cognito_user,
        Req::new("POST", "/vtid/create").json(rec("other")),
    )
    .await;
    // The default claim names mean nothing under this configuration.
    forbidden(
        &api,
        Who::Jwt(json!({"sub": "x", "role": "admin", "tenant": "acme"})),
        Req::new("GET", "/vtid/audit"),
    )
    .await;
}

#[tokio::test]
async fn a_malformed_tenant_claim_is_refused() {
    let api = api().await;
    let bad = Who::Jwt(json!({"sub": "x", "tenant": "acme corp"}));
    forbidden(
        &api,
        bad,
        Req::new("POST", "/vtid/create").json(rec("acme")),
    )
    .await;
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_callers_tenant() {
    let api = api().await;
    let a = as_(
        &api,
        Who::user("acme"),
        Req::new("POST", "/vtid/create")
            .header("Idempotency-Key", "k")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    let u = as_(
        &api,
        Who::user("umbrella"),
        Req::new("POST", "/vtid/create")
            .header("Idempotency-Key", "k")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    assert_eq!((a.status, u.status), (201, 201));
    assert_ne!(a.body["vtid"], u.body["vtid"]);
    let again = as_(
        &api,
        Who::user("acme"),
        Req::new("POST", "/vtid/create")
            .header("Idempotency-Key", "k")
            .json(json!({"taskFamily": "f", "taskType": "t", "description": "d"})),
    )
    .await;
    assert_eq!(
        (again.status, again.body["vtid"].clone()),
        (200, a.body["vtid"].clone())
    );
}
