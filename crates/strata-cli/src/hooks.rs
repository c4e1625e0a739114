//! Running pre-deploy hooks: a command gets the effective configuration as JSON on stdin and
//! `STRATA_TARGET`/`STRATA_SERVICE` in its environment; a non-zero exit or a timeout is a
//! finding carrying its stderr.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_core::validate::check::PendingHook;
use strata_core::validate::report::{Finding, Severity};

/// Longest stderr excerpt kept in a finding.
const MAX_STDERR: usize = 4000;

/// Runs `hook` from `project_dir`; `None` when it passed.
pub fn run(project_dir: &Path, hook: &PendingHook) -> Option<Finding> {
    let finding = |message: String, hint: &str| Finding {
        severity: Severity::Error,
        rule: "hook".into(),
        service: hook.service.clone(),
        target: Some(hook.target.clone()),
        param: None,
        message,
        hint: Some(hint.to_string()),
        location: Some(hook.hook.loc.clone()),
    };
    let shown = hook.hook.command.join(" ");
    let (program, args) = hook.hook.command.split_first()?;
    let mut child = match Command::new(program)
        .args(args)
        .current_dir(project_dir)
        .env("STRATA_TARGET", &hook.target)
        .env("STRATA_SERVICE", &hook.service)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Some(finding(
                format!("hook `{shown}` could not start: {e}"),
                "check the command in the contract (it runs from the project directory)",
            ));
        }
    };
    // Feed stdin and drain stderr on threads so a chatty hook cannot block on a full pipe.
    let input = hook.input.clone();
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= hook.hook.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let _ = writer.join();
    let mut err_text = reader.join().unwrap_or_default();
    if err_text.len() > MAX_STDERR {
        let mut cut = MAX_STDERR;
        while !err_text.is_char_boundary(cut) {
            cut -= 1;
        }
        err_text.truncate(cut);
        err_text.push('…');
    }
    let err_text = err_text.trim();
    match status {
        Some(s) if s.success() => None,
        Some(s) => Some(finding(
            format!(
                "hook `{shown}` failed ({}){}",
                s.code()
                    .map_or("killed by a signal".to_string(), |c| format!("exit {c}")),
                if err_text.is_empty() {
                    String::new()
                } else {
                    format!(": {err_text}")
                }
            ),
            "the hook refused this configuration; its message says why",
        )),
        None => Some(finding(
            format!(
                "hook `{shown}` did not finish within {:?}{}",
                hook.hook.timeout,
                if err_text.is_empty() {
                    String::new()
                } else {
                    format!(": {err_text}")
                }
            ),
            "make the hook faster or raise its `timeout` in the contract",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::validate::contract::Hook;
    use strata_core::validate::report::SourceLoc;

    fn hook(cmd: &[&str], timeout_ms: u64) -> PendingHook {
        PendingHook {
            unit: 0,
            target: "prod/aws/us-east-1".into(),
            service: "checkout".into(),
            hook: Hook {
                command: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: Duration::from_millis(timeout_ms),
                loc: SourceLoc {
                    path: "contracts/checkout.yaml".into(),
                    line: 9,
                    col: 9,
                },
            },
            input: "{\"replicas\":3}".into(),
        }
    }

    #[test]
    fn passes_stdin_and_environment() {
        let h = hook(
            &[
                "sh",
                "-c",
                "test \"$(cat)\" = '{\"replicas\":3}' && test \"$STRATA_TARGET\" = prod/aws/us-east-1 && test \"$STRATA_SERVICE\" = checkout",
            ],
            10_000,
        );
        assert_eq!(run(Path::new("."), &h), None);
    }

    #[test]
    fn failure_carries_stderr() {
        let h = hook(&["sh", "-c", "echo 'timeout too high' >&2; exit 3"], 10_000);
        let f = run(Path::new("."), &h).unwrap();
        assert!(
            f.message.contains("exit 3") && f.message.contains("timeout too high"),
            "{}",
            f.message
        );
        assert_eq!(f.location.unwrap().line, 9);
    }

    #[test]
    fn timeouts_kill_the_hook() {
        let h = hook(&["sleep", "5"], 100);
        let f = run(Path::new("."), &h).unwrap();
        assert!(f.message.contains("did not finish"), "{}", f.message);
    }

    #[test]
    fn a_missing_program_is_a_finding() {
        let f = run(Path::new("."), &hook(&["/nonexistent/hook"], 1000)).unwrap();
        assert!(f.message.contains("could not start"), "{}", f.message);
    }
}
