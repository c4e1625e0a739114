//! Strata API tokens.
//!
//! A token is the text `strata_<id>_<secret>`:
//!
//! - `<id>`: 12 lowercase hex characters (6 random bytes). Not secret: it names the token
//!   in listings, audit entries and revocations.
//! - `<secret>`: 64 lowercase hex characters (32 bytes from the operating system's random
//!   source, via `getrandom`).
//!
//! The text is shown to its owner once, by [`generate`]'s caller. What is stored is a
//! [`TokenHash`]: the id, the principal and the BLAKE3 hash of the whole text ([`hash`]).
//! A fast unsalted hash is enough here because the secret has 256 bits of entropy: there
//! is nothing to guess, so a slow password hash would only cost time on every request.
//! A store may look a presented token up by its [`hash`], or by its id and then call
//! [`verify`], which recomputes the hash and compares it in constant time.
//!
//! Token text never appears in `Debug` or `Display` output nor in error messages: it lives
//! in a [`SecretText`], which prints as `strata_<id>_[redacted]` and is wiped on drop.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// The fixed start of every token.
pub const PREFIX: &str = "strata_";
/// Length of the id part, in hex characters.
pub const ID_HEX_LEN: usize = 12;
/// Number of random bytes in the secret part.
pub const SECRET_BYTES: usize = 32;
/// Length of the secret part, in hex characters.
pub const SECRET_HEX_LEN: usize = SECRET_BYTES * 2;
/// Length of a whole token's text.
pub const TOKEN_LEN: usize = PREFIX.len() + ID_HEX_LEN + 1 + SECRET_HEX_LEN;

/// Why a token could not be generated or parsed. Never carries the token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The text does not start with `strata_`.
    #[error("not a Strata API token: it must start with `strata_`")]
    MissingPrefix,
    /// The text has the prefix but not the `strata_<id>_<secret>` length.
    #[error("malformed Strata API token: expected {TOKEN_LEN} characters")]
    BadLength,
    /// The id part is not 12 lowercase hex characters followed by `_`.
    #[error("malformed Strata API token: the id must be {ID_HEX_LEN} lowercase hex characters")]
    BadId,
    /// The secret part is not 64 lowercase hex characters.
    #[error(
        "malformed Strata API token: the secret must be {SECRET_HEX_LEN} lowercase hex characters"
    )]
    BadSecret,
    /// The operating system's random source failed.
    #[error("cannot generate a token: the system random source failed: {0}")]
    Random(String),
}

/// The full text of a token (`strata_<id>_<secret>`).
///
/// `Debug` and `Display` print `strata_<id>_[redacted]`; [`SecretText::expose`] gives the
/// text itself, for showing it to its owner once or sending it as a credential. The memory
/// is overwritten when the value is dropped. There is deliberately no `PartialEq`: compare
/// tokens with [`verify`], which takes constant time.
#[derive(Clone)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps token text (for example one read from an environment variable) so that it
    /// cannot be printed by accident.
    pub fn new(text: String) -> Self {
        SecretText(text)
    }

    /// The token text. Call this only where the text must leave the process: shown once to
    /// its owner, or sent as a credential.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn redacted(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match parse(&self.0) {
            Ok(parsed) => write!(f, "{PREFIX}{}_[redacted]", parsed.id),
            Err(_) => f.write_str("[redacted]"),
        }
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(")?;
        self.redacted(f)?;
        f.write_str(")")
    }
}

impl fmt::Display for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.redacted(f)
    }
}

/// A freshly generated token: its id and its full text.
#[derive(Debug, Clone)]
pub struct Token {
    /// The id part (12 lowercase hex characters); not secret.
    pub id: String,
    /// The whole token text, redacted in `Debug`/`Display`.
    pub secret_text: SecretText,
}

/// What a store keeps for a token: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHash {
    /// The token's id (public; the store keeps ids unique).
    pub id: String,
    /// Who the token authenticates.
    pub principal: String,
    /// BLAKE3 of the whole token text, 64 lowercase hex characters ([`hash`]).
    pub hash: String,
}

/// A token's text split into its parts (borrowed from the text).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    /// The id part (public).
    pub id: &'a str,
    secret: &'a str,
}

impl<'a> ParsedToken<'a> {
    /// The secret part (64 lowercase hex characters).
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Generates a new token for `principal`: the token to show once, and the record to store.
///
/// Fails only if the operating system's random source fails.
pub fn generate(principal: &str) -> Result<(Token, TokenHash), TokenError> {
    let mut id_bytes = [0u8; ID_HEX_LEN / 2];
    let mut secret_bytes = [0u8; SECRET_BYTES];
    let filled = getrandom::fill(&mut id_bytes).and_then(|()| getrandom::fill(&mut secret_bytes));
    if let Err(e) = filled {
        secret_bytes.zeroize();
        return Err(TokenError::Random(e.to_string()));
    }
    let id = to_hex(&id_bytes);
    let mut text = String::with_capacity(TOKEN_LEN);
    text.push_str(PREFIX);
    text.push_str(&id);
    text.push('_');
    push_hex(&mut text, &secret_bytes);
    secret_bytes.zeroize();
    let secret_text = SecretText(text);
    let stored = TokenHash {
        id: id.clone(),
        principal: principal.to_owned(),
        hash: hash(secret_text.expose()),
    };
    Ok((Token { id, secret_text }, stored))
}

/// Splits token text into id and secret, checking the exact format: `strata_`, 12
/// lowercase hex characters, `_`, 64 lowercase hex characters.
pub fn parse(text: &str) -> Result<ParsedToken<'_>, TokenError> {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return Err(TokenError::MissingPrefix);
    };
    if text.len() != TOKEN_LEN {
        return Err(TokenError::BadLength);
    }
    // `rest` is ASCII up to here only if the checks below pass; index by bytes safely.
    let bytes = rest.as_bytes();
    if !bytes[..ID_HEX_LEN].iter().all(|b| is_lower_hex(*b)) || bytes[ID_HEX_LEN] != b'_' {
        return Err(TokenError::BadId);
    }
    if !bytes[ID_HEX_LEN + 1..].iter().all(|b| is_lower_hex(*b)) {
        return Err(TokenError::BadSecret);
    }
    // All bytes are ASCII, so these are char boundaries.
    Ok(ParsedToken {
        id: &rest[..ID_HEX_LEN],
        secret: &rest[ID_HEX_LEN + 1..],
    })
}

/// BLAKE3 of the whole token text, as 64 lowercase hex characters. This is what is stored.
pub fn hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// Whether `text` is a well-formed token whose hash is `stored_hash`.
///
/// The hashes are compared in constant time (`blake3::Hash` equality), so the time taken
/// says nothing about how much of a guess matched. A malformed `text` or `stored_hash`
/// gives `false`.
pub fn verify(text: &str, stored_hash: &str) -> bool {
    if parse(text).is_err() {
        return false;
    }
    let Ok(stored) = blake3::Hash::from_hex(stored_hash) else {
        return false;
    };
    blake3::hash(text.as_bytes()) == stored
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_non_ascii_without_panicking() {
        // Token-length texts with a multi-byte character where the id, the `_` or the
        // secret should be: byte indexing must not land inside a character.
        let in_id = format!("{PREFIX}{}é{}", "a".repeat(10), "b".repeat(65));
        let at_sep = format!("{PREFIX}{}é{}", "a".repeat(12), "b".repeat(63));
        let in_secret = format!("{PREFIX}{}_{}é", "a".repeat(12), "b".repeat(62));
        for text in [in_id, at_sep, in_secret] {
            assert_eq!(text.len(), TOKEN_LEN);
            assert!(parse(&text).is_err());
            assert!(!verify(&text, &hash(&text)));
        }
    }
}
