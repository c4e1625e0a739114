//! The audit log: who did what, where, and what decided it, in a hash chain.
//!
//! Every entry carries `prev`, the hash of the entry before it (32 zero bytes for the
//! first), and `hash = BLAKE3(prev || canonical bytes of the entry)`, where the canonical
//! bytes length-prefix every stored column, the sequence number included. Changing,
//! deleting, inserting or reordering a stored entry breaks the chain at that entry, and
//! [`verify`] names the first sequence number that is wrong. The store also keeps the
//! chain's head (last seq and hash), so dropping entries from the end is caught too.
//!
//! Entries never hold parameter values: `params` are `service:path` names, and a secret's
//! change is shown by [`secret_digest`], a keyed hash under the store's audit key.
//!
//! Backends store and read rows ([`RawAuditRow`]); building the chain ([`chain`]) and
//! checking it ([`Verifier`]) live here, so both backends hash identically.

use std::fmt;

use crate::error::StoreError;
use crate::model::Hash;

/// Well-known values of [`NewAuditEntry::action`] (any other non-empty string is
/// accepted, for actions added later).
pub mod action {
    /// A revision was committed (or a write was attempted, when denied).
    pub const WRITE: &str = "write";
    /// A change request was opened.
    pub const PROPOSE: &str = "propose";
    /// A change request was approved.
    pub const APPROVE: &str = "approve";
    /// A change request was rejected.
    pub const REJECT: &str = "reject";
    /// A rule (freeze, approval) was overridden.
    pub const OVERRIDE: &str = "override";
    /// An API token was created.
    pub const TOKEN_CREATE: &str = "token-create";
    /// An API token authenticated a request.
    pub const TOKEN_USE: &str = "token-use";
    /// An API token was revoked.
    pub const TOKEN_REVOKE: &str = "token-revoke";
    /// An attempt was refused.
    pub const DENIED: &str = "denied";
    /// A secret value was read in plaintext.
    pub const READ_SECRET: &str = "read-secret";
    /// A configuration was applied (deployed).
    pub const APPLY: &str = "apply";
}

/// Whether the audited attempt was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Allowed (and, for writes, done).
    Allowed,
    /// Refused.
    Denied,
}

impl Decision {
    /// The stored text: `allowed` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
        }
    }

    /// Reads the stored text.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allowed" => Some(Decision::Allowed),
            "denied" => Some(Decision::Denied),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append; the store assigns `seq`, `prev` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When, in milliseconds since the Unix epoch, UTC (passed in: the store never reads
    /// the clock).
    pub time_ms: i64,
    /// Who (a principal name, or `anonymous`).
    pub principal: String,
    /// What: one of [`action`]'s values or another non-empty word.
    pub action: String,
    /// Where: an environment, a target, or empty for store-wide actions.
    pub scope: String,
    /// The parameters concerned, as `service:path` (or `service:` for a whole service),
    /// never their values.
    pub params: Vec<String>,
    /// Allowed or denied.
    pub decision: Decision,
    /// The access rule that decided, as text.
    pub rule: Option<String>,
    /// The change request concerned.
    pub request: Option<String>,
    /// The revision concerned (hex id). Entries of a commit without one are given the
    /// new revision's id (see [`crate::repo::CommitExtras`]).
    pub revision: Option<String>,
    /// Anything else, as a JSON object (stored as canonical JSON: keys sorted).
    pub detail: Option<serde_json::Map<String, serde_json::Value>>,
}

impl NewAuditEntry {
    /// An allowed entry with only the required fields; set the others as needed.
    pub fn new(time_ms: i64, principal: &str, action: &str, scope: &str) -> NewAuditEntry {
        NewAuditEntry {
            time_ms,
            principal: principal.to_string(),
            action: action.to_string(),
            scope: scope.to_string(),
            params: Vec::new(),
            decision: Decision::Allowed,
            rule: None,
            request: None,
            revision: None,
            detail: None,
        }
    }
}

/// A stored entry, read back and checked against its own hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … in the order the store appended them.
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    /// Who.
    pub principal: String,
    /// What.
    pub action: String,
    /// Where.
    pub scope: String,
    /// Parameters (`service:path`).
    pub params: Vec<String>,
    /// Allowed or denied.
    pub decision: Decision,
    /// The deciding rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The change request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Map<String, serde_json::Value>>,
    /// The hash of the previous entry (zero for the first).
    pub prev: Hash,
    /// This entry's hash.
    pub hash: Hash,
}

/// An audit row exactly as stored (the columns of `strata_audit`), for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAuditRow {
    /// `seq`.
    pub seq: i64,
    /// `time_ms`.
    pub time_ms: i64,
    /// `principal`.
    pub principal: String,
    /// `action`.
    pub action: String,
    /// `scope`.
    pub scope: String,
    /// `params`: a JSON array of strings.
    pub params: String,
    /// `decision`: `allowed` or `denied`.
    pub decision: String,
    /// `rule`.
    pub rule: Option<String>,
    /// `request`.
    pub request: Option<String>,
    /// `revision`.
    pub revision: Option<String>,
    /// `detail`: canonical JSON of an object.
    pub detail: Option<String>,
    /// `prev` (hex).
    pub prev: String,
    /// `hash` (hex).
    pub hash: String,
}

/// The chain's head as stored: the last entry's seq and hash (`0` and zeros when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAuditHead {
    /// The last seq.
    pub seq: i64,
    /// The last hash (hex).
    pub hash: String,
}

/// Which entries [`crate::backend::Store::audit_entries`] returns. Every condition set
/// must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries with a larger seq (a cursor: the last seq already seen).
    pub after_seq: Option<u64>,
    /// Only entries at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only this principal's entries.
    pub principal: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Only entries naming this parameter or one under it (`svc:db` matches `svc:db`,
    /// `svc:db.pool`, `svc:db[0]`; `svc:` matches the whole service).
    pub param: Option<String>,
    /// Newest first (default: oldest first).
    pub newest_first: bool,
    /// At most this many entries.
    pub limit: Option<usize>,
}

/// What is wrong at the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditProblem {
    /// The entry's stored hash is not the hash of its content and `prev`: it was edited.
    HashMismatch,
    /// The entry's `prev` is not the hash of the entry before it.
    PrevMismatch,
    /// The entry with this seq is missing: the next one found is `found` (`None`: the log
    /// ends before the recorded head).
    Gap {
        /// The seq found instead, if any.
        found: Option<u64>,
    },
    /// The entry comes after an entry with a seq at least as large.
    OutOfOrder {
        /// The seq of the entry before it.
        after: u64,
    },
    /// The entry lies past the recorded head of the chain (it was added behind the
    /// store's back).
    BeyondHead {
        /// The head's seq.
        head: u64,
    },
    /// The last entry's hash is not the recorded head hash.
    HeadMismatch,
    /// A column cannot be read (bad hex, a seq below 1, …).
    Malformed(String),
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::HashMismatch => {
                f.write_str("its hash does not match its content (the entry was modified)")
            }
            AuditProblem::PrevMismatch => f.write_str(
                "its prev does not match the hash of the entry before it (entries were removed, inserted or reordered)",
            ),
            AuditProblem::Gap { found: Some(n) } => {
                write!(f, "it is missing (the next entry is #{n})")
            }
            AuditProblem::Gap { found: None } => {
                f.write_str("it is missing (the log ends before the recorded head)")
            }
            AuditProblem::OutOfOrder { after } => write!(f, "it comes after entry #{after}"),
            AuditProblem::BeyondHead { head } => write!(
                f,
                "it lies past the recorded head #{head} (added behind the store's back)"
            ),
            AuditProblem::HeadMismatch => {
                f.write_str("its hash is not the recorded head of the chain")
            }
            AuditProblem::Malformed(what) => write!(f, "it cannot be read: {what}"),
        }
    }
}

/// The first place the audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at entry #{seq}: {problem}")]
pub struct AuditBreak {
    /// The first bad sequence number.
    pub seq: u64,
    /// What is wrong there.
    pub problem: AuditProblem,
}

/// The chain's start: 32 zero bytes.
pub const GENESIS: Hash = Hash([0; 32]);

/// The first bytes of every entry's canonical encoding (the format version).
const DOMAIN: &str = "strata-audit-v1";

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

impl RawAuditRow {
    /// The canonical bytes of the entry: every column but `prev` and `hash`, each
    /// length-prefixed (u64 big-endian), integers as 8 big-endian bytes, optional columns
    /// behind a presence byte, after the format tag.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            96 + self.principal.len()
                + self.action.len()
                + self.scope.len()
                + self.params.len()
                + self.detail.as_ref().map_or(0, String::len),
        );
        put_str(&mut out, DOMAIN);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        put_str(&mut out, &self.principal);
        put_str(&mut out, &self.action);
        put_str(&mut out, &self.scope);
        put_str(&mut out, &self.params);
        put_str(&mut out, &self.decision);
        put_opt(&mut out, self.rule.as_deref());
        put_opt(&mut out, self.request.as_deref());
        put_opt(&mut out, self.revision.as_deref());
        put_opt(&mut out, self.detail.as_deref());
        out
    }

    /// `BLAKE3(prev || canonical bytes)` for a given `prev`.
    pub fn compute_hash(&self, prev: &Hash) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&prev.0);
        h.update(&self.canonical_bytes());
        Hash(*h.finalize().as_bytes())
    }

    /// Decodes the row, checking its hash against its own content and `prev` (not its
    /// place in the chain: that is [`verify`]'s job).
    pub fn decode(&self) -> Result<AuditEntry, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt {
            what: format!("audit entry #{} ({why})", self.seq),
        };
        let seq = u64::try_from(self.seq)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| corrupt("bad seq"))?;
        let prev = Hash::from_hex(&self.prev).ok_or_else(|| corrupt("bad prev"))?;
        let hash = Hash::from_hex(&self.hash).ok_or_else(|| corrupt("bad hash"))?;
        if self.compute_hash(&prev) != hash {
            return Err(corrupt("modified"));
        }
        let params: Vec<String> =
            serde_json::from_str(&self.params).map_err(|_| corrupt("bad params"))?;
        let decision = Decision::parse(&self.decision).ok_or_else(|| corrupt("bad decision"))?;
        let detail = match &self.detail {
            None => None,
            Some(text) => match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => return Err(corrupt("bad detail")),
            },
        };
        Ok(AuditEntry {
            seq,
            time_ms: self.time_ms,
            principal: self.principal.clone(),
            action: self.action.clone(),
            scope: self.scope.clone(),
            params,
            decision,
            rule: self.rule.clone(),
            request: self.request.clone(),
            revision: self.revision.clone(),
            detail,
            prev,
            hash,
        })
    }
}

/// JSON text with every object's keys sorted and no spaces (independent of map order).
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(child) = m.get(k) {
                        write(child, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, child) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(child, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Builds the stored rows of `entries`, appended after the head `(head_seq, head_hash)`:
/// seq `head_seq + 1, …`, each chained to the one before. Refuses an entry without an
/// action or principal.
pub fn chain(
    head_seq: i64,
    head_hash: &Hash,
    entries: &[NewAuditEntry],
) -> Result<Vec<RawAuditRow>, StoreError> {
    let mut prev = *head_hash;
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if e.action.trim().is_empty() || e.principal.is_empty() {
            return Err(StoreError::Invalid(
                "an audit entry needs a principal and an action".into(),
            ));
        }
        let params = serde_json::to_string(&e.params)
            .map_err(|err| StoreError::Invalid(format!("audit params: {err}")))?;
        let mut row = RawAuditRow {
            seq: head_seq + 1 + i as i64,
            time_ms: e.time_ms,
            principal: e.principal.clone(),
            action: e.action.clone(),
            scope: e.scope.clone(),
            params,
            decision: e.decision.as_str().to_string(),
            rule: e.rule.clone(),
            request: e.request.clone(),
            revision: e.revision.clone(),
            detail: e
                .detail
                .as_ref()
                .map(|m| canonical_json(&serde_json::Value::Object(m.clone()))),
            prev: prev.to_hex(),
            hash: String::new(),
        };
        let hash = row.compute_hash(&prev);
        row.hash = hash.to_hex();
        prev = hash;
        out.push(row);
    }
    Ok(out)
}

/// Reads a stored head, refusing damaged columns.
pub(crate) fn parse_head(seq: i64, hash: &str) -> Result<(i64, Hash), StoreError> {
    match Hash::from_hex(hash) {
        Some(h) if seq >= 0 => Ok((seq, h)),
        _ => Err(StoreError::Corrupt {
            what: "audit log head".into(),
        }),
    }
}

/// A fresh random audit key (from the operating system).
pub(crate) fn new_key(store: &str) -> Result<[u8; 32], StoreError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| StoreError::backend(store, format!("cannot make the audit key: {e}")))?;
    Ok(key)
}

/// A stored key's bytes, which must be 32.
pub(crate) fn key_from_bytes(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        what: "audit key".into(),
    })
}

/// A keyed hash of a secret value (BLAKE3 in keyed mode, a MAC like HMAC), so an audit
/// entry can show that a secret changed, and whether two values are equal, without
/// holding the value. The parameter is part of the input, so equal values of different
/// parameters have different digests. 64 hex digits.
pub fn secret_digest(key: &[u8; 32], service_param: &str, value: &[u8]) -> String {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(&(service_param.len() as u64).to_be_bytes());
    h.update(service_param.as_bytes());
    h.update(value);
    h.finalize().to_hex().to_string()
}

/// Checks a chain one row at a time (rows in ascending seq, as the store scans them), so
/// a long log is verified without holding it.
#[derive(Debug)]
pub struct Verifier {
    last: u64,
    prev: Hash,
    failed: Option<AuditBreak>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier at the start of the chain.
    pub fn new() -> Verifier {
        Verifier {
            last: 0,
            prev: GENESIS,
            failed: None,
        }
    }

    fn fail(&mut self, seq: u64, problem: AuditProblem) -> Result<(), AuditBreak> {
        let b = AuditBreak { seq, problem };
        self.failed = Some(b.clone());
        Err(b)
    }

    /// Checks the next row; the first error is final (later calls return it again).
    pub fn push(&mut self, row: &RawAuditRow) -> Result<(), AuditBreak> {
        if let Some(b) = &self.failed {
            return Err(b.clone());
        }
        let expected = self.last + 1;
        let Some(seq) = u64::try_from(row.seq).ok().filter(|s| *s > 0) else {
            return self.fail(
                expected,
                AuditProblem::Malformed(format!("seq {} is not positive", row.seq)),
            );
        };
        if seq <= self.last {
            return self.fail(seq, AuditProblem::OutOfOrder { after: self.last });
        }
        if seq != expected {
            return self.fail(expected, AuditProblem::Gap { found: Some(seq) });
        }
        let Some(prev) = Hash::from_hex(&row.prev) else {
            return self.fail(seq, AuditProblem::Malformed("prev is not a hash".into()));
        };
        let Some(hash) = Hash::from_hex(&row.hash) else {
            return self.fail(seq, AuditProblem::Malformed("hash is not a hash".into()));
        };
        if prev != self.prev {
            return self.fail(seq, AuditProblem::PrevMismatch);
        }
        if row.compute_hash(&prev) != hash {
            return self.fail(seq, AuditProblem::HashMismatch);
        }
        self.last = seq;
        self.prev = hash;
        Ok(())
    }

    /// Ends the check against the recorded head (`None`: rows alone, e.g. a copy of
    /// them): the chain must end exactly at the head's seq, on its hash. Returns the
    /// number of entries.
    pub fn finish(self, head: Option<&RawAuditHead>) -> Result<u64, AuditBreak> {
        if let Some(b) = self.failed {
            return Err(b);
        }
        let Some(head) = head else {
            return Ok(self.last);
        };
        let Some(seq) = u64::try_from(head.seq).ok() else {
            return Err(AuditBreak {
                seq: self.last.max(1),
                problem: AuditProblem::Malformed("the recorded head has a negative seq".into()),
            });
        };
        if self.last > seq {
            return Err(AuditBreak {
                seq: seq + 1,
                problem: AuditProblem::BeyondHead { head: seq },
            });
        }
        if self.last < seq {
            return Err(AuditBreak {
                seq: self.last + 1,
                problem: AuditProblem::Gap { found: None },
            });
        }
        match Hash::from_hex(&head.hash) {
            Some(h) if h == self.prev => Ok(self.last),
            Some(_) => Err(AuditBreak {
                seq: seq.max(1),
                problem: AuditProblem::HeadMismatch,
            }),
            None => Err(AuditBreak {
                seq: seq.max(1),
                problem: AuditProblem::Malformed("the recorded head is not a hash".into()),
            }),
        }
    }
}

/// Verifies a whole chain: `rows` in the order stored (ascending seq) against the stored
/// head. Detects any modified, deleted, inserted or reordered entry and names the first
/// bad sequence number. Returns the number of entries.
pub fn verify(rows: &[RawAuditRow], head: Option<&RawAuditHead>) -> Result<u64, AuditBreak> {
    let mut v = Verifier::new();
    for row in rows {
        v.push(row)?;
    }
    v.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<NewAuditEntry> {
        (0..n)
            .map(|i| {
                let mut e = NewAuditEntry::new(1_000 + i as i64, "alice", action::WRITE, "prod");
                e.params = vec![format!("web:p{i}")];
                e
            })
            .collect()
    }

    fn head_of(rows: &[RawAuditRow]) -> RawAuditHead {
        rows.last().map_or(
            RawAuditHead {
                seq: 0,
                hash: GENESIS.to_hex(),
            },
            |r| RawAuditHead {
                seq: r.seq,
                hash: r.hash.clone(),
            },
        )
    }

    #[test]
    fn a_sound_chain_verifies_and_decodes() {
        let rows = chain(0, &GENESIS, &entries(5)).unwrap();
        assert_eq!(rows[0].prev, GENESIS.to_hex());
        assert_eq!(verify(&rows, Some(&head_of(&rows))), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
        let e = rows[2].decode().unwrap();
        assert_eq!(
            (e.seq, e.params.as_slice()),
            (3, &["web:p2".to_string()][..])
        );
        // Appending continues the chain.
        let more = chain(5, &Hash::from_hex(&rows[4].hash).unwrap(), &entries(2)).unwrap();
        let all: Vec<RawAuditRow> = rows.iter().chain(&more).cloned().collect();
        assert_eq!(verify(&all, Some(&head_of(&all))), Ok(7));
    }

    #[test]
    fn each_kind_of_damage_names_the_first_bad_seq() {
        let rows = chain(0, &GENESIS, &entries(6)).unwrap();
        let head = head_of(&rows);
        let check = |rows: &[RawAuditRow]| verify(rows, Some(&head)).unwrap_err();

        let mut edited = rows.clone();
        edited[2].scope = "dev".into();
        assert_eq!(
            check(&edited),
            AuditBreak {
                seq: 3,
                problem: AuditProblem::HashMismatch
            }
        );
        let mut gone = rows.clone();
        gone.remove(2);
        assert_eq!(check(&gone).seq, 3);
        assert_eq!(check(&gone).problem, AuditProblem::Gap { found: Some(4) });
        let truncated = &rows[..4];
        assert_eq!(
            check(truncated),
            AuditBreak {
                seq: 5,
                problem: AuditProblem::Gap { found: None }
            }
        );
        let mut reordered = rows.clone();
        reordered.swap(1, 3);
        assert_eq!(check(&reordered).seq, 2);
        let mut renumbered = rows.clone();
        let (a, b) = (renumbered[1].seq, renumbered[3].seq);
        renumbered[1].seq = b;
        renumbered[3].seq = a;
        renumbered.sort_by_key(|r| r.seq);
        assert_eq!(check(&renumbered).seq, 2);
        let mut extra = rows.clone();
        let mut forged = extra[5].clone();
        forged.seq = 7;
        extra.push(forged);
        assert_eq!(
            check(&extra),
            AuditBreak {
                seq: 7,
                problem: AuditProblem::PrevMismatch
            }
        );
        // Without a head, a forged tail with a correct hash is only a chain like any other:
        // the head is what catches it.
        let tail = chain(6, &Hash::from_hex(&rows[5].hash).unwrap(), &entries(1)).unwrap();
        let longer: Vec<RawAuditRow> = rows.iter().chain(&tail).cloned().collect();
        assert_eq!(verify(&longer, None), Ok(7));
        assert_eq!(check(&longer).problem, AuditProblem::BeyondHead { head: 6 });
        let mut bad_head = head.clone();
        bad_head.hash = rows[4].hash.clone();
        assert_eq!(
            verify(&rows, Some(&bad_head)).unwrap_err(),
            AuditBreak {
                seq: 6,
                problem: AuditProblem::HeadMismatch
            }
        );
        let mut dup = rows.clone();
        dup.insert(3, rows[2].clone());
        assert_eq!(
            check(&dup),
            AuditBreak {
                seq: 3,
                problem: AuditProblem::OutOfOrder { after: 3 }
            }
        );
    }

    #[test]
    fn canonical_bytes_are_unambiguous() {
        let mut a = chain(0, &GENESIS, &entries(1)).unwrap().remove(0);
        let mut b = a.clone();
        a.principal = "ab".into();
        a.action = "c".into();
        b.principal = "a".into();
        b.action = "bc".into();
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
        a.rule = None;
        b = a.clone();
        b.rule = Some(String::new());
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn detail_is_stored_with_sorted_keys() {
        let mut e = entries(1).remove(0);
        let mut m = serde_json::Map::new();
        m.insert("z".into(), serde_json::json!({"b": 1, "a": [true, null]}));
        m.insert("a".into(), serde_json::json!("x\"y"));
        e.detail = Some(m);
        let row = chain(0, &GENESIS, &[e]).unwrap().remove(0);
        assert_eq!(
            row.detail.as_deref(),
            Some(r#"{"a":"x\"y","z":{"a":[true,null],"b":1}}"#)
        );
        assert!(row.decode().is_ok());
    }

    #[test]
    fn entries_need_an_action_and_a_principal() {
        let mut e = entries(1).remove(0);
        e.action = " ".into();
        assert!(matches!(
            chain(0, &GENESIS, &[e]),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn secret_digests_are_keyed_and_bound_to_the_parameter() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let d = secret_digest(&k1, "web:db.password", b"hunter2");
        assert_eq!(d.len(), 64);
        assert_eq!(d, secret_digest(&k1, "web:db.password", b"hunter2"));
        assert_ne!(d, secret_digest(&k2, "web:db.password", b"hunter2"));
        assert_ne!(d, secret_digest(&k1, "web:db.passwor", b"dhunter2"));
        assert_ne!(d, secret_digest(&k1, "web:db.password", b"hunter3"));
        assert!(!d.contains("hunter2"));
    }
}
