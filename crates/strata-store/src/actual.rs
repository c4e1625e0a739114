//! Reports of running systems: the configuration a service says it runs with, as the
//! server keeps the latest one per (target, service) for desired-against-actual drift
//! (`POST /v1/actual/{env}/{service}`).
//!
//! The store keeps what it is given: the caller removes secret values first (the server
//! replaces them with `<redacted>`). Each report carries the BLAKE3 digest of its
//! configuration text, checked on every read like every other stored object.

use crate::error::StoreError;
use crate::model::Hash;

/// The latest report of one service on one target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActualReport {
    /// The target (`ENV/PROVIDER/REGION`).
    pub target: String,
    /// The service.
    pub service: String,
    /// Who reported it (the token's principal).
    pub principal: String,
    /// When (ms since the epoch).
    pub time_ms: i64,
    /// The head revision id (hex) when it was reported.
    pub revision: String,
    /// The reported configuration as JSON text, secret values removed.
    pub config: String,
    /// The BLAKE3 digest (hex) of `config`.
    pub digest: String,
}

impl ActualReport {
    /// A report of `config` (JSON text without secret values), with its digest.
    pub fn new(
        target: impl Into<String>,
        service: impl Into<String>,
        principal: impl Into<String>,
        time_ms: i64,
        revision: impl Into<String>,
        config: impl Into<String>,
    ) -> ActualReport {
        let config = config.into();
        ActualReport {
            target: target.into(),
            service: service.into(),
            principal: principal.into(),
            time_ms,
            revision: revision.into(),
            digest: Hash::of(config.as_bytes()).to_hex(),
            config,
        }
    }

    /// The report as read from a store, refused as damaged when its configuration no
    /// longer matches its digest.
    pub(crate) fn verified(self) -> Result<ActualReport, StoreError> {
        if Hash::of(self.config.as_bytes()).to_hex() != self.digest {
            return Err(StoreError::Corrupt {
                what: format!(
                    "actual report of {} on {} (its configuration does not match its digest)",
                    self.service, self.target
                ),
            });
        }
        Ok(self)
    }

    /// Refuses a report without a target, service or principal, or whose digest is not
    /// its configuration's.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.target.is_empty() || self.service.is_empty() || self.principal.is_empty() {
            return Err(StoreError::Invalid(
                "an actual report needs a target, a service and a principal".into(),
            ));
        }
        if Hash::of(self.config.as_bytes()).to_hex() != self.digest {
            return Err(StoreError::Invalid(format!(
                "the digest of the actual report of {} on {} is not its configuration's: make it with ActualReport::new",
                self.service, self.target
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_configuration_is_refused_on_read() {
        let r = ActualReport::new("prod/aws/us-east-1", "svc", "bot", 1, "ab", "{\"a\": 1}");
        assert!(r.check().is_ok());
        assert!(r.clone().verified().is_ok());
        let mut bad = r;
        bad.config = "{\"a\": 2}".into();
        assert!(bad.check().is_err());
        let e = bad.verified().unwrap_err().to_string();
        assert!(e.contains("svc on prod/aws/us-east-1"), "{e}");
    }
}
