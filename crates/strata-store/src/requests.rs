//! Change requests as the store keeps them: a changeset waiting for approvals.
//!
//! The store records requests, their approvals and their status; deciding whether a
//! request has enough approvals (its `rules`) is the access layer's job. The store keeps
//! the invariants every caller needs: one approval per principal, nobody approves their
//! own request, status changes are compare-and-set (`from` must be the current status)
//! and closed requests stay closed.

use std::fmt;

use crate::StoreError;

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for approvals.
    Pending,
    /// Approved enough; not applied yet.
    Approved,
    /// Committed (closed).
    Applied,
    /// Refused by an approver (closed).
    Rejected,
    /// Its time ran out (closed).
    Expired,
    /// The head moved and the changeset no longer applies (closed).
    Conflicted,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [RequestStatus; 6] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Applied,
        RequestStatus::Rejected,
        RequestStatus::Expired,
        RequestStatus::Conflicted,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Applied => "applied",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Expired => "expired",
            RequestStatus::Conflicted => "conflicted",
        }
    }

    /// Reads the stored text.
    pub fn parse(s: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Pending or approved: the request may still change.
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::Pending | RequestStatus::Approved)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change request to record (status `pending`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    /// Its identifier (chosen by the caller, unique).
    pub id: String,
    /// Who proposed it.
    pub author: String,
    /// Why.
    pub message: String,
    /// The changeset file (`CHANGESET.yaml` text).
    pub changeset: String,
    /// The head's seq when it was proposed.
    pub base_seq: u64,
    /// When (ms since the epoch).
    pub created_ms: i64,
    /// When it expires (ms since the epoch), if ever.
    pub expires_ms: Option<i64>,
    /// The approval rules that apply, as JSON text (the access layer's format; `[]` for
    /// none). Refused when it is not JSON.
    pub rules: String,
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Approval {
    /// Who approved.
    pub principal: String,
    /// When (ms since the epoch).
    pub time_ms: i64,
}

/// A stored change request with its approvals (in the order given).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangeRequest {
    /// Identifier.
    pub id: String,
    /// Who proposed it.
    pub author: String,
    /// Why.
    pub message: String,
    /// The changeset file text.
    pub changeset: String,
    /// The head's seq when proposed.
    pub base_seq: u64,
    /// When proposed.
    pub created_ms: i64,
    /// When it expires.
    pub expires_ms: Option<i64>,
    /// The approval rules (JSON text).
    pub rules: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// When the status last changed (`None`: still as created).
    pub status_ms: Option<i64>,
    /// Why the status last changed (free text or JSON, from the caller).
    pub detail: Option<String>,
    /// The revision that applied it (hex id), once applied by a commit.
    pub revision: Option<String>,
    /// Approvals, oldest first.
    pub approvals: Vec<Approval>,
}

/// A compare-and-set of a request's status: refused unless the status is `from` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status the caller saw (it must still be so).
    pub from: RequestStatus,
    /// The new status.
    pub to: RequestStatus,
    /// When (ms since the epoch).
    pub time_ms: i64,
    /// Why (shown with the request).
    pub detail: Option<String>,
}

/// Changes to one request, written in one transaction with audit entries by
/// [`crate::backend::Store::request_update`]: an approval, a status change, or both (an
/// approval that completes the rules also moves the request to `approved`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestUpdate {
    /// Adds an approval (refused for the author or a principal who already approved, and
    /// on a closed request). Checked against the status before `status` applies.
    pub approval: Option<Approval>,
    /// Changes the status.
    pub status: Option<StatusChange>,
}

/// A status change of a request made by a commit, in the commit's transaction: the
/// request is marked (typically `approved` → `applied`) and records the new revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTransition {
    /// The request.
    pub id: String,
    /// The change.
    pub change: StatusChange,
}

/// Refuses a request with an empty id or author, or rules that are not JSON.
pub(crate) fn check_new(req: &NewRequest) -> Result<(), StoreError> {
    if req.id.is_empty() || req.author.is_empty() {
        return Err(StoreError::Invalid(
            "a change request needs an id and an author".into(),
        ));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&req.rules) {
        return Err(StoreError::Invalid(format!(
            "the rules of change request `{}` are not JSON: {e}",
            req.id
        )));
    }
    Ok(())
}

/// Checks an approval against the request as stored (`author`, `status`, whether the
/// principal already approved).
pub(crate) fn check_approval(
    id: &str,
    author: &str,
    status: RequestStatus,
    approval: &Approval,
    already: bool,
) -> Result<(), StoreError> {
    if !status.is_open() {
        return Err(StoreError::RequestState {
            id: id.to_string(),
            found: status,
            expected: vec![RequestStatus::Pending, RequestStatus::Approved],
        });
    }
    if approval.principal.is_empty() {
        return Err(StoreError::Invalid("an approval needs a principal".into()));
    }
    if approval.principal == author {
        return Err(StoreError::SelfApproval {
            request: id.to_string(),
            principal: approval.principal.clone(),
        });
    }
    if already {
        return Err(StoreError::DuplicateApproval {
            request: id.to_string(),
            principal: approval.principal.clone(),
        });
    }
    Ok(())
}

/// Checks a status change against the stored status: it must be `change.from`, which
/// must be open, and the status must change.
pub(crate) fn check_transition(
    id: &str,
    current: RequestStatus,
    change: &StatusChange,
) -> Result<(), StoreError> {
    if current != change.from || !current.is_open() {
        return Err(StoreError::RequestState {
            id: id.to_string(),
            found: current,
            expected: vec![change.from],
        });
    }
    if change.to == change.from {
        return Err(StoreError::Invalid(format!(
            "change request `{id}` is already {}",
            change.to
        )));
    }
    Ok(())
}

/// Reads a stored status, refusing unknown text.
pub(crate) fn parse_status(id: &str, s: &str) -> Result<RequestStatus, StoreError> {
    RequestStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
        what: format!("change request {id} (unknown status `{s}`)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RequestStatus::parse("done"), None);
    }

    #[test]
    fn transitions_are_compare_and_set_and_closed_stays_closed() {
        let change = |from, to| StatusChange {
            from,
            to,
            time_ms: 0,
            detail: None,
        };
        use RequestStatus::*;
        assert!(check_transition("r", Pending, &change(Pending, Approved)).is_ok());
        assert!(check_transition("r", Approved, &change(Approved, Applied)).is_ok());
        assert!(matches!(
            check_transition("r", Approved, &change(Pending, Applied)),
            Err(StoreError::RequestState {
                found: Approved,
                ..
            })
        ));
        assert!(check_transition("r", Applied, &change(Applied, Pending)).is_err());
        assert!(check_transition("r", Pending, &change(Pending, Pending)).is_err());
    }

    #[test]
    fn approvals_refuse_the_author_repeats_and_closed_requests() {
        let a = Approval {
            principal: "bob".into(),
            time_ms: 1,
        };
        use RequestStatus::*;
        assert!(check_approval("r", "alice", Pending, &a, false).is_ok());
        assert!(matches!(
            check_approval("r", "bob", Pending, &a, false),
            Err(StoreError::SelfApproval { .. })
        ));
        assert!(matches!(
            check_approval("r", "alice", Approved, &a, true),
            Err(StoreError::DuplicateApproval { .. })
        ));
        assert!(matches!(
            check_approval("r", "alice", Rejected, &a, false),
            Err(StoreError::RequestState { .. })
        ));
    }
}
