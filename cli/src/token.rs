//! `vtid token`: a bearer token for a `vtid serve` that checks HS256 tokens, signed with
//! the same secret file, so nobody has to write a minter to try token checking or to
//! give a CI job its own identity.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Map, Value, json};

use crate::auth::read_hs256_secret;
use crate::exit::Fail;
use crate::remote::parse_duration;

/// The longest life a token may be given: a day. A CI job's token should not outlive it.
const LONGEST_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The HS256 secret file that `vtid serve --jwt-hs256-secret-file` reads.
    #[arg(long)]
    pub secret_file: PathBuf,
    /// Who the caller is (the `sub` claim), as the ledger records it in createdBy.
    #[arg(long)]
    pub sub: String,
    /// The caller's tenant (the `tenant` claim); needed by plain users to create.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The caller's role (the `role` claim): admin and service may act for any tenant.
    #[arg(long, value_parser = ["admin", "service"])]
    pub role: Option<String>,
    /// How long the token is valid, up to 24h.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// The `aud` claim, for a server started with --jwt-audience.
    #[arg(long)]
    pub aud: Option<String>,
    /// The `iss` claim, for a server started with --jwt-issuer.
    #[arg(long)]
    pub iss: Option<String>,
}

/// Prints the token (and nothing else, so that `VTID_TOKEN=$(vtid token ...)` works).
pub fn run(args: TokenArgs) -> Result<(), Fail> {
    let secret = read_hs256_secret(&args.secret_file).map_err(Fail::usage)?;
    let token = mint(&secret, &claims(&args, now())?).map_err(Fail::usage)?;
    println!("{token}");
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims of `args`, issued at `now`.
fn claims(args: &TokenArgs, now: u64) -> Result<Map<String, Value>, Fail> {
    if args.ttl.is_zero() || args.ttl > LONGEST_TTL {
        return Err(Fail::usage("--ttl must be from 1s to 24h"));
    }
    if args.sub.trim().is_empty() {
        return Err(Fail::usage("--sub must name the caller"));
    }
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(args.sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + args.ttl.as_secs()));
    let optional = [
        ("tenant", &args.tenant),
        ("role", &args.role),
        ("aud", &args.aud),
        ("iss", &args.iss),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            claims.insert(name.into(), json!(v));
        }
    }
    Ok(claims)
}

fn mint(secret: &[u8], claims: &Map<String, Value>) -> Result<String, String> {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TokenArgs {
        TokenArgs {
            secret_file: PathBuf::new(),
            sub: "ci".into(),
            tenant: Some("acme".into()),
            role: None,
            ttl: Duration::from_secs(600),
            aud: None,
            iss: Some("https://ci.example".into()),
        }
    }

    #[test]
    fn the_claims_are_the_flags_with_a_bounded_life() {
        let c = claims(&args(), 1_000).unwrap();
        assert_eq!(
            Value::Object(c),
            json!({"sub": "ci", "tenant": "acme", "iss": "https://ci.example",
                   "iat": 1_000, "exp": 1_600})
        );
        for ttl in [Duration::ZERO, LONGEST_TTL + Duration::from_secs(1)] {
            let long = TokenArgs { ttl, ..args() };
            assert!(claims(&long, 0).is_err());
        }
        let nobody = TokenArgs {
            sub: " ".into(),
            ..args()
        };
        assert!(claims(&nobody, 0).is_err());
    }
}
