//! Any bytes read as `policies/access.yaml` (with and without the project's strata.yaml),
//! then a few decisions against whatever parsed: an error is fine, a panic is not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata_core::access::{AccessPolicy, Action, Request};
use strata_core::path::Segment;
use strata_core::project::ProjectConfig;

fn config() -> &'static ProjectConfig {
    static CONFIG: OnceLock<ProjectConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = r#"version: 1
environments: [{name: dev}, {name: prod}]
providers: [aws]
targets: [dev/aws/us-east-1, prod/aws/us-east-1]
hierarchy: [base, "env/{env}"]
teams: {payments: {owners: [bob]}}
services: {checkout: {team: payments}, ledger: {}}
"#;
ProjectConfig::parse(text).expect("the fixed strata.yaml is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    for cfg in [None, Some(config())] {
        let Ok(policy) = AccessPolicy::parse(data, cfg) else {
            continue;
        };
        let path = [Segment::Key("db".into()), Segment::Index(0)];
        for action in Action::ALL {
            for principal in ["bob", "alice", ""] {
                let _ = policy.decide(&Request::new(principal, action, "prod", "checkout", &path));
            }
            let _ = policy.who_can(action, "dev", "ledger", &[]);
        }
        let _ = policy.approvals_for("prod", "checkout", &path);
    }
});
