//! Tests that need a part a plain `cargo test` may lack.

/// Whether a test that needs `what` (moto's server, the browser) can run. Without it (a
/// plain `cargo test`) the test says it is skipped and returns; under the test command,
/// which sets `VTID_TEST_STRICT`, a missing part fails it instead.
pub fn runs_with(test: &str, what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    assert!(
        std::env::var_os("VTID_TEST_STRICT").is_none(),
        "{test} needs {what}, and VTID_TEST_STRICT forbids skipping"
    );
    eprintln!("skipped {test}: it needs {what} (./scripts/test provides it)");
    false
}
