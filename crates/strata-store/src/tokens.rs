//! API tokens as the store keeps them: an id, the principal, dates, and the token's hash.
//!
//! The caller hashes a token before it reaches the store (the store never sees the
//! secret) and looks tokens up by that hash; listings never include it.

/// A token to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// A public identifier (shown in listings, used to revoke).
    pub id: String,
    /// Whom the token authenticates.
    pub principal: String,
    /// The caller's hash of the token secret (stored as given, unique).
    pub hash: String,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
    /// When it stops working (ms since the epoch); `None`: never.
    pub expires_ms: Option<i64>,
}

/// A stored token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    /// The public identifier.
    pub id: String,
    /// Whom it authenticates.
    pub principal: String,
    /// When it was made.
    pub created_ms: i64,
    /// When it expires, if ever.
    pub expires_ms: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// Whether a token works at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// It authenticates.
    Active,
    /// Its expiry has passed.
    Expired,
    /// It was revoked.
    Revoked,
}

impl TokenRow {
    /// The token's state at `now_ms` (the store never reads the clock: the caller says
    /// when). Revocation wins over expiry.
    pub fn state(&self, now_ms: i64) -> TokenState {
        if self.revoked_ms.is_some() {
            TokenState::Revoked
        } else if self.expires_ms.is_some_and(|e| now_ms >= e) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    /// Whether the token authenticates at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.state(now_ms) == TokenState::Active
    }
}

/// Refuses a token with an empty id, principal or hash.
pub(crate) fn check(token: &NewToken) -> Result<(), crate::StoreError> {
    if token.id.is_empty() || token.principal.is_empty() || token.hash.is_empty() {
        return Err(crate::StoreError::Invalid(
            "a token needs an id, a principal and a hash".into(),
        ));
    }
    Ok(())
}

/// The error for a token hash already stored (never shows the hash).
pub(crate) fn hash_taken() -> crate::StoreError {
    crate::StoreError::Invalid(
        "a token with the same hash is already stored: make a new token".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_expiry_and_revocation() {
        let mut t = TokenRow {
            id: "t1".into(),
            principal: "alice".into(),
            created_ms: 0,
            expires_ms: Some(100),
            revoked_ms: None,
        };
        assert_eq!(t.state(99), TokenState::Active);
        assert_eq!(t.state(100), TokenState::Expired);
        t.revoked_ms = Some(50);
        assert_eq!(t.state(10), TokenState::Revoked);
        t.expires_ms = None;
        t.revoked_ms = None;
        assert!(t.is_active(i64::MAX));
    }
}
