//! Which browsers' requests a local ledger without tokens answers.
//!
//! Without token checking every caller of `vtid serve` is its admin, and the server's
//! authority is ambient: a browser sends requests to a loopback address for any page it
//! shows. Two attacks follow, and each check here closes one:
//!
//! - **Cross-site writes**: a page on another origin `POST`s to `http://127.0.0.1:8787`
//!   (a form, or `fetch` with `mode: 'no-cors'` and a `text/plain` body, which needs no
//!   preflight). Its answer is opaque to the page, but the write is done. A browser always
//!   says where such a request comes from: `Origin` on every cross-origin request that is
//!   not a plain navigation, and `Sec-Fetch-Site` on every request. So a request is
//!   refused when its `Origin` is not this server's own (`http://` one of its host names,
//!   on its port), or when `Sec-Fetch-Site` says `cross-site` or `same-site` (another port
//!   of `localhost` is another site's page too).
//! - **DNS rebinding**: a name under the attacker's control that resolves to 127.0.0.1
//!   makes its page same-origin with the ledger, so it could read answers as well. Its
//!   requests carry that name in `Host`; only the names the server was told it is are
//!   answered: `localhost`, `127.0.0.1` and `[::1]`, plus each `--allowed-host`.
//!
//! Callers that are not browsers (curl, the CLI, the SDKs) send no `Origin` and no
//! `Sec-Fetch-Site`, and reach the server by one of its names: they notice nothing, and
//! a body needs no particular `Content-Type`. With token checking none of this applies:
//! every request needs a bearer token, which a browser never adds by itself.

use http::HeaderMap;
use shared::error::ApiError;

/// The host names every local server answers to.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The names and port a local server without tokens answers for.
#[derive(Clone, Debug)]
pub struct Origins {
    names: Vec<String>,
    port: u16,
}

impl Origins {
    /// Loopback names plus `extra` (`--allowed-host`), for a server on `port`.
    pub fn new(extra: &[String], port: u16) -> Self {
        let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
        names.extend(extra.iter().map(|n| canonical_name(n)));
        Self { names, port }
    }

    /// The names, for messages and the start-up line.
    pub fn names(&self) -> String {
        self.names.join(", ")
    }

    /// Refuses a request from a browser page of another origin, or addressed to a name
    /// this server was not told it is (403 `forbidden`, saying which and what to do).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(host) = headers.get(http::header::HOST) {
            let name = host.to_str().ok().map(|h| split_port(h).0);
            if !name.is_some_and(|n| self.knows(n)) {
                return Err(ApiError::Forbidden(format!(
                    "this server answers only requests addressed to {}; start it with \
                     --allowed-host NAME to answer another name",
                    self.names()
                )));
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN)
            && !origin.to_str().is_ok_and(|o| self.is_own_origin(o))
        {
            return Err(cross_site());
        }
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        if site.is_some_and(|s| {
            s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site")
        }) {
            return Err(cross_site());
        }
        Ok(())
    }

    fn knows(&self, name: &str) -> bool {
        let name = canonical_name(name);
        self.names.contains(&name)
    }

    /// `http://NAME[:PORT]` with one of this server's names and its port.
    fn is_own_origin(&self, origin: &str) -> bool {
        let Some(authority) = origin.strip_prefix("http://") else {
            return false;
        };
        let (name, port) = split_port(authority);
        let port = match port {
            None => Some(80),
            Some(p) => p.parse::<u16>().ok(),
        };
        self.knows(name) && port == Some(self.port)
    }
}

fn cross_site() -> ApiError {
    ApiError::Forbidden(
        "requests from another site's page are refused: this server has no tokens, so every \
         caller is its admin; call it from a program, or start it with \
         --jwt-hs256-secret-file to serve browsers with tokens"
            .into(),
    )
}

/// A host name as compared: lower case, without a trailing dot.
fn canonical_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `name[:port]`, where `name` may be a bracketed IPv6 address.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let colon = match authority.rfind(']') {
        Some(close) => authority[close..].find(':').map(|i| close + i),
        None => authority.rfind(':'),
    };
    match colon {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn programs_and_the_servers_own_page_are_answered() {
        let o = Origins::new(&[], 8787);
        for h in [
            headers(&[]),
            headers(&[("host", "127.0.0.1:8787")]),
            headers(&[("host", "localhost")]),
            headers(&[("host", "LOCALHOST.:8787")]),
            headers(&[("host", "[::1]:8787")]),
            headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "http://127.0.0.1:8787"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("host", "localhost:8787"), ("sec-fetch-site", "none")]),
        ] {
            assert!(o.check(&h).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn another_sites_page_is_refused() {
        let o = Origins::new(&[], 8787);
        for h in [
            headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:8787"), ("origin", "null")]),
            headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "http://localhost:3000"),
            ]),
            headers(&[
                ("host", "127.0.0.1:8787"),
                ("origin", "https://127.0.0.1:8787"),
            ]),
            headers(&[("host", "127.0.0.1:8787"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:8787"), ("sec-fetch-site", "same-site")]),
        ] {
            let e = o.check(&h).expect_err("refused");
            assert!(e.to_string().contains("another site"), "{h:?}: {e}");
        }
    }

    #[test]
    fn a_name_the_server_was_not_told_is_refused_until_allowed() {
        let rebound = headers(&[("host", "rebind.evil.example:8787")]);
        let e = Origins::new(&[], 8787)
            .check(&rebound)
            .expect_err("refused");
        assert!(e.to_string().contains("--allowed-host"), "{e}");
        let told = Origins::new(&["Ledger.Internal".into()], 8787);
        assert!(
            told.check(&headers(&[("host", "ledger.internal:8787")]))
                .is_ok()
        );
        assert!(
            told.check(&headers(&[
                ("host", "ledger.internal:8787"),
                ("origin", "http://ledger.internal:8787")
            ]))
            .is_ok()
        );
        assert!(told.check(&rebound).is_err());
    }

    #[test]
    fn ports_and_ipv6_names_split_where_they_should() {
        assert_eq!(split_port("a:1"), ("a", Some("1")));
        assert_eq!(split_port("a"), ("a", None));
        assert_eq!(split_port("[::1]:8787"), ("[::1]", Some("8787")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
    }
}
