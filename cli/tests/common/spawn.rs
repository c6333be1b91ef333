//! `vtid serve` as a child on a port the system picks (`--addr 127.0.0.1:0`), read back
//! from its startup line: tests running at once can never race for a port, nor talk to
//! each other's server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_vtid");

/// Starts `vtid serve <args>` on loopback: the child and the port it listens on.
pub fn spawn_serve(args: &[&str]) -> (Child, u16) {
    spawn_serve_at(0, args)
}

/// Starts `vtid serve <args>` on loopback port `port` (0: one the system picks), as a
/// restart on the address a client already knows needs.
pub fn spawn_serve_at(port: u16, args: &[&str]) -> (Child, u16) {
    // A test's data folder is its own (never a typo), so the server may start a ledger
    // there: `vtid serve` refuses a `--data` folder without one unless `--init`.
    let mut all = args.to_vec();
    if args.contains(&"--data") && !args.contains(&"--init") {
        all.push("--init");
    }
    spawn_exact(port, &all)
}

/// Starts `vtid serve <args>` on loopback port `port` with exactly those arguments.
pub fn spawn_exact(port: u16, args: &[&str]) -> (Child, u16) {
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", &addr])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vtid serve");
    let stderr = child.stderr.take().expect("the server's stderr");
    let (tx, rx) = mpsc::channel();
    // Reads the startup line, then keeps draining so that logging never blocks.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = port_of(&line) {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => (child, port),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vtid serve {args:?} did not say where it listens");
        }
    }
}

/// The port of `vtid serve: http://127.0.0.1:PORT ...`.
fn port_of(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("vtid serve: http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
