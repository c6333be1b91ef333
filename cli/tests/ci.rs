//! The CI integrations run as their platforms run them, against `vtid serve`: the GitHub
//! Action's steps (`integrations/github/action.yml`) and the GitLab CI component's jobs
//! (`templates/vtid-gate.yml`) are read from their files, their inputs filled in as the
//! platform fills them, and their scripts run with the variables each platform sets on a
//! first run, on a step retried, and on a re-run or a retried job.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, Server};
use serde_json::Value;
use serde_yaml::Value as Yaml;

type Vars = BTreeMap<String, String>;

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `script` run by `shell` as a CI runner runs it: `vtid` on PATH, `vars` set, in `dir`.
fn run_script(shell: &str, script: &str, vars: &Vars, dir: &Path) -> (i32, String, String) {
    let bin_dir = Path::new(BIN).parent().expect("the binary's folder");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(shell)
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .envs(vars)
        .current_dir(dir)
        .output()
        .expect("run the script");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn record(server: &Server, vtid: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/vtid/{vtid}"), None, &[]);
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// `name=value` lines of a GitHub output file or a GitLab dotenv file.
fn read_pairs(path: &Path) -> Vars {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The GitHub Action, run as a runner runs a composite action.
struct Action {
    doc: Yaml,
}

/// What a use of the action gave: the exit code, the action's outputs and stderr.
struct Used {
    code: i32,
    outputs: Vars,
    stderr: String,
}

impl Action {
    fn load() -> Action {
        let text = std::fs::read_to_string(repo_file("integrations/github/action.yml")).unwrap();
        Action {
            doc: serde_yaml::from_str(&text).expect("action.yml is YAML"),
        }
    }

    /// The inputs as the runner passes them: given, else the declared default.
    fn inputs(&self, given: &[(&str, &str)]) -> Vars {
        let mut inputs = Vars::new();
        for (name, spec) in self.doc["inputs"].as_mapping().expect("inputs") {
            let name = name.as_str().unwrap().to_owned();
            let default = spec["default"].as_str().unwrap_or_default().to_owned();
            inputs.insert(name, default);
        }
        for (k, v) in given {
            assert!(inputs.contains_key(*k), "the action has no input {k}");
            inputs.insert((*k).to_owned(), (*v).to_owned());
        }
        inputs
    }

    /// Runs every step whose `if` holds with `platform`'s variables; stops at a failing
    /// one, as the runner does.
    fn uses(&self, given: &[(&str, &str)], platform: &Vars, dir: &Path) -> Used {
        let inputs = self.inputs(given);
        let fill = |text: &str| {
            let mut text = text.to_owned();
            for (k, v) in &inputs {
                text = text.replace(&format!("${{{{ inputs.{k} }}}}"), v);
            }
            text
        };
        let mut step_outputs: BTreeMap<String, Vars> = BTreeMap::new();
        for (i, step) in self.doc["runs"]["steps"]
            .as_sequence()
            .expect("steps")
            .iter()
            .enumerate()
        {
            if let Some(cond) = step["if"].as_str() {
                // The one form the action uses: `inputs.NAME != ''`.
                let name = cond
                    .strip_prefix("inputs.")
                    .and_then(|c| c.strip_suffix(" != ''"))
                    .expect("an if of the form inputs.NAME != ''");
                if inputs[name].is_empty() {
                    continue;
                }
            }
            assert_eq!(step["shell"].as_str(), Some("bash"));
            let output = dir.join(format!("github-output-{i}"));
            let _ = std::fs::remove_file(&output);
            let mut vars = platform.clone();
            vars.insert("GITHUB_OUTPUT".into(), output.display().to_string());
            if let Some(env) = step["env"].as_mapping() {
                for (k, v) in env {
                    vars.insert(k.as_str().unwrap().into(), fill(v.as_str().unwrap_or("")));
                }
            }
            let script = step["run"].as_str().expect("a run step");
            assert!(
                !script.contains("${{"),
                "inputs reach the script through env only"
            );
            let (code, _, stderr) = run_script("bash", script, &vars, dir);
            if let Some(id) = step["id"].as_str() {
                step_outputs.insert(id.into(), read_pairs(&output));
            }
            if code != 0 {
                return Used {
                    code,
                    outputs: Vars::new(),
                    stderr,
                };
            }
        }
        let mut outputs = Vars::new();
        for (name, spec) in self.doc["outputs"].as_mapping().expect("outputs") {
            let value = spec["value"].as_str().unwrap();
            let (step, key) = value
                .strip_prefix("${{ steps.")
                .and_then(|v| v.strip_suffix(" }}"))
                .and_then(|v| v.split_once(".outputs."))
                .expect("an output of a step");
            let got = step_outputs.get(step).and_then(|o| o.get(key)).cloned();
            outputs.insert(name.as_str().unwrap().into(), got.unwrap_or_default());
        }
        Used {
            code: 0,
            outputs,
            stderr: String::new(),
        }
    }
}

/// GitHub's variables in job `job` of run 9001, attempt `attempt`.
fn github(job: &str, attempt: u32) -> Vars {
    [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/shop"),
        ("GITHUB_RUN_ID", "9001"),
        ("GITHUB_RUN_ATTEMPT", &attempt.to_string()),
        ("GITHUB_JOB", job),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("RUNNER_TEMP", "/tmp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn the_github_action_registers_finishes_and_gates_across_a_rerun() {
    let server = Server::fresh(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let action = Action::load();
    let register = [("command", "register"), ("url", &url), ("tenant", "acme")];

    // Attempt 1: registered; the step retried gets the same VTID; the build fails.
    let first = action.uses(&register, &github("build", 1), dir.path());
    assert_eq!(first.code, 0, "{}", first.stderr);
    let v1 = first.outputs["vtid"].clone();
    assert_eq!(record(&server, &v1)["status"], "active");
    let again = action.uses(&register, &github("build", 1), dir.path());
    assert_eq!(
        again.outputs["vtid"], v1,
        "a retried step is the same release"
    );
    let failed = action.uses(
        &[
            ("command", "finish"),
            ("url", &url),
            ("vtid", &v1),
            ("outcome", "failure"),
        ],
        &github("build", 1),
        dir.path(),
    );
    assert_eq!(failed.code, 0, "{}", failed.stderr);
    assert_eq!(record(&server, &v1)["status"], "failed");

    // "Re-run failed jobs": attempt 2 of the same run is a new release, and it ships.
    let second = action.uses(&register, &github("build", 2), dir.path());
    assert_eq!(second.code, 0, "{}", second.stderr);
    let v2 = second.outputs["vtid"].clone();
    assert_ne!(v2, v1, "a re-run is a new release");
    let r2 = record(&server, &v2);
    assert_eq!(r2["status"], "active");
    assert_eq!(r2["metadata"]["attempt"], 2);
    assert_eq!(r2["metadata"]["run"], "9001");
    assert!(
        r2["title"].as_str().unwrap().ends_with("(attempt 2)"),
        "{r2}"
    );
    let done = action.uses(
        &[
            ("command", "finish"),
            ("url", &url),
            ("vtid", &v2),
            ("outcome", "success"),
        ],
        &github("build", 2),
        dir.path(),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(done.outputs["vtid"], v2);

    // The deploy job's gate: the re-run's release passes, the failed one does not.
    let check = |vtid: &str| {
        action.uses(
            &[
                ("command", "check"),
                ("url", &url),
                ("vtid", vtid),
                ("timeout", "20s"),
            ],
            &github("deploy", 2),
            dir.path(),
        )
    };
    let pass = check(&v2);
    assert_eq!(pass.code, 0, "{}", pass.stderr);
    assert_eq!(pass.outputs["status"], "complete");
    let stop = check(&v1);
    assert_eq!(
        stop.code, 4,
        "a failed release never ships: {}",
        stop.stderr
    );
    assert!(stop.stderr.contains("ended failed"), "{}", stop.stderr);
    let wrong = action.uses(
        &[("command", "deploy"), ("url", &url)],
        &github("x", 1),
        dir.path(),
    );
    assert_eq!(wrong.code, 2);
}

/// The GitLab component, its inputs filled in and `extends` resolved.
struct Component {
    jobs: BTreeMap<String, Yaml>,
    inputs: Vars,
}

impl Component {
    fn load(given: &[(&str, &str)]) -> Component {
        let text = std::fs::read_to_string(repo_file("templates/vtid-gate.yml")).unwrap();
        let docs: Vec<Yaml> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
            .collect();
        assert_eq!(docs.len(), 2, "the spec, then the jobs");
        let mut inputs = Vars::new();
        for (name, spec) in docs[0]["spec"]["inputs"].as_mapping().unwrap() {
            let default = spec["default"].as_str().map(str::to_owned);
            inputs.insert(name.as_str().unwrap().into(), default.unwrap_or_default());
        }
        for (k, v) in given {
            inputs.insert((*k).into(), (*v).into());
        }
        for (name, spec) in docs[0]["spec"]["inputs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap();
            assert!(
                spec.get("default").is_some() || given.iter().any(|(k, _)| *k == name),
                "input {name} has no default and was not given"
            );
        }
        let mut filled = serde_yaml::to_string(&docs[1]).unwrap();
        for (k, v) in &inputs {
            filled = filled.replace(&format!("$[[ inputs.{k} ]]"), v);
        }
        assert!(!filled.contains("$[["), "every input is declared: {filled}");
        let all: BTreeMap<String, Yaml> = serde_yaml::from_str(&filled).unwrap();
        Component { jobs: all, inputs }
    }

    /// The job with its `extends` merged in (variables merged, the job's own winning).
    fn job(&self, name: &str) -> Yaml {
        let mut job = self.jobs[name].clone();
        if let Some(base) = job["extends"].as_str().map(str::to_owned) {
            let mut vars = self.jobs[&base]["variables"].clone();
            if let (Some(v), Some(own)) = (vars.as_mapping_mut(), job["variables"].as_mapping()) {
                v.extend(own.clone());
            }
            job["variables"] = vars;
        }
        job
    }

    /// Runs job `name` as GitLab does: its variables, the pipeline's and the dotenv
    /// variables it receives, its script lines in one shell that stops at a failure.
    fn run(&self, name: &str, job_id: u32, received: &Vars, dir: &Path) -> (i32, Vars, String) {
        let job = self.job(name);
        let mut vars: Vars = [
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "42"),
            ("CI_PROJECT_PATH", "acme/shop"),
            ("CI_PIPELINE_ID", "300"),
            ("CI_COMMIT_SHA", "89abcdef0123456789abcdef0123456789abcdef"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        vars.insert("CI_JOB_ID".into(), job_id.to_string());
        vars.insert(
            "CI_JOB_URL".into(),
            format!("https://gitlab.example.com/acme/shop/-/jobs/{job_id}"),
        );
        for (k, v) in job["variables"].as_mapping().into_iter().flatten() {
            vars.insert(k.as_str().unwrap().into(), v.as_str().unwrap_or("").into());
        }
        vars.extend(received.clone());
        let lines: Vec<&str> = job["script"]
            .as_sequence()
            .expect("a script")
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let work = dir.join(format!("job-{job_id}"));
        std::fs::create_dir_all(&work).unwrap();
        let script = format!("set -e\n{}", lines.join("\n"));
        let (code, _, stderr) = run_script("sh", &script, &vars, &work);
        let dotenv = job["artifacts"]["reports"]["dotenv"]
            .as_str()
            .map(|f| read_pairs(&work.join(f)))
            .unwrap_or_default();
        (code, dotenv, stderr)
    }
}

#[test]
fn the_gitlab_component_gates_and_a_retried_job_makes_a_new_release() {
    let server = Server::fresh(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let component = Component::load(&[("url", &url), ("tenant", "acme")]);
    assert_eq!(component.inputs["gate_stage"], "gate");
    assert_eq!(component.job("vtid-register")["stage"], ".pre");
    assert_eq!(component.job("vtid-complete")["when"], "on_success");
    assert_eq!(component.job("vtid-fail")["when"], "on_failure");

    // A pipeline whose test job fails: register, then the gate stage's on_failure job.
    let (code, registered, err) = component.run("vtid-register", 100, &Vars::new(), dir.path());
    assert_eq!(code, 0, "{err}");
    let v1 = registered["VTID"].clone();
    assert_eq!(record(&server, &v1)["status"], "active");
    let (code, _, err) = component.run("vtid-fail", 101, &registered, dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(record(&server, &v1)["status"], "failed");

    // The test job is retried and passes: the gate stage runs again with register's VTID
    // (register is not retried). The success is a new release, child of the failed one.
    let (code, completed, err) = component.run("vtid-complete", 103, &registered, dir.path());
    assert_eq!(code, 0, "{err}");
    let v2 = completed["VTID"].clone();
    assert_ne!(v2, v1);
    let r2 = record(&server, &v2);
    assert_eq!(r2["status"], "complete");
    assert_eq!(r2["parentVtid"], v1.as_str());
    assert_eq!(r2["metadata"]["retryOf"], v1.as_str());
    // The same job retried once more: the same release.
    let (_, again, _) = component.run("vtid-complete", 103, &registered, dir.path());
    assert_eq!(again["VTID"], v2);
    let (code, _, err) = component.run("vtid-check", 104, &completed, dir.path());
    assert_eq!(code, 0, "the deploy may go: {err}");

    // A first run that passes: one release, complete, and the check lets it through.
    let (_, registered, _) = component.run("vtid-register", 200, &Vars::new(), dir.path());
    let v3 = registered["VTID"].clone();
    let (code, completed, err) = component.run("vtid-complete", 201, &registered, dir.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(completed["VTID"], v3, "no retry: the same release");
    assert_eq!(record(&server, &v3)["status"], "complete");
    // A retried register job is a new release.
    let (_, retried, _) = component.run("vtid-register", 202, &Vars::new(), dir.path());
    assert_ne!(retried["VTID"], v3);
    // A gate on the failed release says no.
    let failed = Vars::from([("VTID".to_owned(), v1.clone())]);
    let (code, _, err) = component.run("vtid-check", 205, &failed, dir.path());
    assert_eq!(code, 4, "{err}");
}
