//! Per-value encryption at rest for secret parameters.
//!
//! Secret values never appear in layer documents as plaintext; they are stored as
//! `ENC[…]` strings produced by [`encrypt`] and read back with [`decrypt`]. The scheme
//! resembles SOPS, except that there is no file-wide MAC: every value stands alone, so
//! layers can be merged, diffed and reviewed value by value.
//!
//! # Format
//!
//! ```text
//! ENC[strata:v1,<base64(age(K))>,<base64(nonce || ciphertext)>]
//! ```
//!
//! * `K` is a fresh random 32-byte data key per value.
//! * The value's UTF-8 bytes are sealed with ChaCha20-Poly1305 under `K`, with a fresh
//!   random 12-byte nonce and **the parameter path (e.g. `checkout:db.password`) as
//!   associated data**. A ciphertext copied to another parameter therefore fails to
//!   decrypt ([`CryptoError::Tampered`]).
//! * `K` is encrypted with [age](https://age-encryption.org/v1) (binary format, not
//!   armored) to every X25519 recipient (`age1…`). Any one matching identity
//!   (`AGE-SECRET-KEY-1…`) decrypts the value.
//! * Both parts use standard base64 with padding.
//!
//! The `ENC[` prefix and `]` suffix are what the validator looks for to tell an encrypted
//! value from a plaintext one.
//!
//! # What this does and does not protect
//!
//! The scheme gives confidentiality, detects any alteration of a ciphertext, and binds each
//! ciphertext to its parameter path. It does **not** authenticate who wrote a value: anyone
//! who knows the (public) recipients can produce a valid ciphertext for any parameter, and
//! a ciphertext may be copied between layers of the *same* parameter.
//!
//! No plaintext is ever included in an error or in `Debug` output, and data keys are wiped
//! from memory when dropped.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use age::secrecy::ExposeSecret;
use age::secrecy::zeroize::{Zeroize, Zeroizing};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The text every Strata v1 ciphertext starts with.
const PREFIX: &str = "ENC[strata:v1,";
/// The text every ciphertext ends with.
const SUFFIX: &str = "]";
/// Length of the per-value data key.
const DATA_KEY_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 12;
/// Length of the Poly1305 tag.
const TAG_LEN: usize = 16;

/// Something went wrong encrypting or decrypting a value, or loading keys.
///
/// Messages never contain plaintext or secret keys.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// An entry of the recipient list is not an age X25519 public key.
    #[error(
        "recipient #{index} {shown} is not a valid age recipient ({reason}); \
         recipients must be X25519 public keys starting with `age1` \
         (the second line `age-keygen` prints, or `age-keygen -y KEYFILE`)"
    )]
    InvalidRecipient {
        /// 1-based position in the list.
        index: usize,
        /// The entry as written, in backquotes, or a placeholder when the entry looked
        /// like a secret key (which is never echoed).
        shown: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A line of an identity file is not an age X25519 secret key.
    ///
    /// The line itself is never echoed, since it may hold a secret.
    #[error(
        "line {line} of {source_name} is not a valid age identity ({reason}); \
         identity files hold `AGE-SECRET-KEY-1…` lines (as written by `age-keygen`), \
         `#` comments and blank lines"
    )]
    InvalidIdentity {
        /// Where the identities came from (a file path, or a description).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// Why it was rejected.
        reason: String,
    },
    /// The identity text holds no key at all.
    #[error(
        "{source_name} contains no age identity; add an `AGE-SECRET-KEY-1…` line \
         (create one with `age-keygen`)"
    )]
    NoIdentities {
        /// Where the identities came from (a file path, or a description).
        source_name: String,
    },
    /// The identity file could not be read.
    #[error(
        "cannot read age identity file {}: {source}; check that STRATA_AGE_IDENTITY \
         names a readable file",
        path.display()
    )]
    IdentityFile {
        /// The file that could not be read.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// [`encrypt`] was called with an empty recipient list.
    #[error(
        "cannot encrypt `{param}`: no age recipients are configured; \
         add at least one `age1…` public key to the project's recipients"
    )]
    NoRecipients {
        /// The parameter that was to be encrypted.
        param: String,
    },
    /// The string is not a well-formed Strata v1 ciphertext.
    #[error("the encrypted value of `{param}` is malformed: {reason}")]
    Malformed {
        /// The parameter whose value was being decrypted.
        param: String,
        /// What is wrong with it (never includes plaintext).
        reason: String,
    },
    /// None of the identities is a recipient of the value.
    #[error(
        "cannot decrypt `{param}`: none of the {identities} age identities from {source_name} \
         can decrypt it (the value was encrypted to other recipients, or its key part was \
         altered); point STRATA_AGE_IDENTITY at a key the value was encrypted to, or ask \
         someone who can decrypt it to re-encrypt it to your recipient"
    )]
    NoMatchingKey {
        /// The parameter whose value was being decrypted.
        param: String,
        /// How many identities were tried.
        identities: usize,
        /// Where the identities came from (a file path, or a description).
        source_name: String,
    },
    /// Authentication failed: the ciphertext is bound to another parameter or was altered.
    ///
    /// The two cases cannot be told apart by design.
    #[error(
        "cannot decrypt `{param}`: the encrypted value is bound to another parameter or \
         was altered; encrypted values cannot be copied between parameters — \
         re-encrypt the plaintext for `{param}`"
    )]
    Tampered {
        /// The parameter whose value was being decrypted.
        param: String,
    },
    /// The operating system's random number generator failed.
    #[error("cannot encrypt `{param}`: the system random number generator failed: {message}")]
    Random {
        /// The parameter that was to be encrypted.
        param: String,
        /// The error reported by the OS.
        message: String,
    },
    /// age refused to encrypt the data key (should not happen with X25519 recipients).
    #[error("cannot encrypt `{param}`: {message}")]
    Encrypt {
        /// The parameter that was to be encrypted.
        param: String,
        /// What went wrong.
        message: String,
    },
}

/// The age X25519 public keys (`age1…`) that new values are encrypted to.
#[derive(Clone, Default)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl Recipients {
    /// Parses a list of `age1…` recipient strings (surrounding whitespace is ignored,
    /// duplicates are dropped). An empty list is accepted; [`encrypt`] then fails with
    /// [`CryptoError::NoRecipients`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidRecipient`], naming the first bad entry. An entry that looks
    /// like a secret key is reported without being echoed.
    pub fn parse(list: &[String]) -> Result<Self, CryptoError> {
        let mut out: Vec<age::x25519::Recipient> = Vec::with_capacity(list.len());
        for (i, raw) in list.iter().enumerate() {
            let entry = raw.trim();
            let index = i + 1;
            if starts_with_ignore_case(entry, "AGE-SECRET-KEY-") {
                return Err(CryptoError::InvalidRecipient {
                    index,
                    shown: "(not shown)".into(),
                    reason: "it is an age SECRET key, not a public key; use the matching \
                             `age1…` public key, and treat this secret key as leaked if the \
                             list was committed"
                        .into(),
                });
            }
            let parsed = entry.parse::<age::x25519::Recipient>().map_err(|e| {
                let reason = if entry.is_empty() {
                    "it is empty".to_string()
                } else if entry.starts_with("ssh-") {
                    "SSH recipients are not supported".to_string()
                } else if entry.starts_with("age1") && entry[4..].contains('1') {
                    // Plugin recipients have a longer human-readable part: `age1yubikey1…`.
                    "age plugin recipients are not supported".to_string()
                } else {
                    e.to_string()
                };
                CryptoError::InvalidRecipient {
                    index,
                    shown: format!("`{entry}`"),
                    reason,
                }
            })?;
            if !out.contains(&parsed) {
                out.push(parsed);
            }
        }
        Ok(Recipients(out))
    }

    /// Whether the list holds no recipient.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many distinct recipients the list holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|r| r.to_string()))
            .finish()
    }
}

/// The age X25519 secret keys (`AGE-SECRET-KEY-1…`) used to decrypt values.
///
/// `Debug` shows only the count, the matching public keys and where the keys came from.
#[derive(Clone)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    source: String,
}

impl Identities {
    /// Parses the text of an age identity file: one `AGE-SECRET-KEY-1…` per line; lines
    /// starting with `#` and blank lines are ignored.
    ///
    /// # Errors
    ///
    /// [`CryptoError::InvalidIdentity`] naming the line number (never its content), or
    /// [`CryptoError::NoIdentities`] if the text holds no key.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        Self::parse_with_source(text, "the age identity text".to_string())
    }

    /// Reads and parses an age identity file (see [`Identities::parse`]).
    ///
    /// # Errors
    ///
    /// [`CryptoError::IdentityFile`] if the file cannot be read, otherwise as
    /// [`Identities::parse`], with messages naming the file.
    pub fn from_file(path: &Path) -> Result<Self, CryptoError> {
        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|source| CryptoError::IdentityFile {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse_with_source(&text, path.display().to_string())
    }

    /// Replaces the description of where the identities came from (e.g.
    /// `"STRATA_AGE_IDENTITY"`), used in [`CryptoError::NoMatchingKey`] messages.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// The `age1…` public keys matching these identities, in file order.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// How many identities were loaded (always at least one).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: parsing rejects identity text without keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn parse_with_source(text: &str, source: String) -> Result<Self, CryptoError> {
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.parse::<age::x25519::Identity>().map_err(|e| {
                let reason = if line.starts_with("age1") {
                    "it is a public key (recipient), not a secret key".to_string()
                } else if starts_with_ignore_case(line, "AGE-PLUGIN-") {
                    "age plugin identities are not supported".to_string()
                } else {
                    e.to_string()
                };
                CryptoError::InvalidIdentity {
                    source_name: source.clone(),
                    line: i + 1,
                    reason,
                }
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(CryptoError::NoIdentities {
                source_name: source,
            });
        }
        Ok(Identities { keys, source })
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("count", &self.keys.len())
            .field("recipients", &self.recipients())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Whether `s` has the shape of a Strata v1 ciphertext
/// (`ENC[strata:v1,<base64>,<base64>]`).
///
/// Only the shape is checked, not whether it decrypts.
pub fn is_ciphertext(s: &str) -> bool {
    let Some(inner) = s
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    else {
        return false;
    };
    let Some((key, body)) = inner.split_once(',') else {
        return false;
    };
    let is_b64 = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    };
    is_b64(key) && is_b64(body)
}

/// Encrypts `plaintext`, the value of parameter `param` (e.g. `checkout:db.password`), to
/// every recipient, returning its `ENC[strata:v1,…]` form.
///
/// Each call uses a fresh data key and nonce, so encrypting the same value twice gives
/// different ciphertexts.
///
/// # Errors
///
/// [`CryptoError::NoRecipients`] if `recipients` is empty; [`CryptoError::Random`] if the
/// OS random generator fails.
pub fn encrypt(
    plaintext: &str,
    param: &str,
    recipients: &Recipients,
) -> Result<String, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoRecipients {
            param: param.to_string(),
        });
    }
    let random_err = |e: getrandom::Error| CryptoError::Random {
        param: param.to_string(),
        message: e.to_string(),
    };
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    getrandom::fill(data_key.as_mut_slice()).map_err(random_err)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(random_err)?;

    // Seal the value under the data key, bound to the parameter path.
    let cipher = ChaCha20Poly1305::new(Key::from_slice(data_key.as_slice()));
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: param.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Encrypt {
            param: param.to_string(),
            message: "the value is too large to encrypt".into(),
        })?;
    drop(cipher);

    // Wrap the data key for every recipient.
    let encrypt_err = |message: String| CryptoError::Encrypt {
        param: param.to_string(),
        message,
    };
    let encryptor =
        age::Encryptor::with_recipients(recipients.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| encrypt_err(e.to_string()))?;
    let mut wrapped_key = Vec::with_capacity(64 + 128 * recipients.len() + DATA_KEY_LEN + 16);
    let mut writer = encryptor
        .wrap_output(&mut wrapped_key)
        .map_err(|e| encrypt_err(e.to_string()))?;
    writer
        .write_all(data_key.as_slice())
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| encrypt_err(e.to_string()))?;

    let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    Ok(format!(
        "{PREFIX}{},{}{SUFFIX}",
        B64.encode(&wrapped_key),
        B64.encode(&body)
    ))
}

/// Decrypts an `ENC[strata:v1,…]` string that was encrypted for parameter `param`.
///
/// # Errors
///
/// * [`CryptoError::Malformed`] — not a Strata v1 ciphertext, bad base64, truncated, or
///   a data key of the wrong size.
/// * [`CryptoError::NoMatchingKey`] — none of `identities` is a recipient (age recipients
///   are anonymous, so which keys would be needed cannot be told).
/// * [`CryptoError::Tampered`] — the value belongs to another parameter or was altered.
pub fn decrypt(
    ciphertext: &str,
    param: &str,
    identities: &Identities,
) -> Result<String, CryptoError> {
    let malformed = |reason: &str| CryptoError::Malformed {
        param: param.to_string(),
        reason: reason.to_string(),
    };
    let tampered = || CryptoError::Tampered {
        param: param.to_string(),
    };

    let Some(rest) = ciphertext.strip_prefix(PREFIX) else {
        return Err(malformed(&if ciphertext.starts_with("ENC[strata:") {
            "it uses an unknown Strata encryption version (written by a newer Strata?); \
             upgrade Strata"
                .to_string()
        } else if ciphertext.starts_with("ENC[") {
            "it is not a Strata ciphertext (expected `ENC[strata:v1,…]`; SOPS or another \
             tool?); re-encrypt the value with Strata"
                .to_string()
        } else {
            "it does not start with `ENC[strata:v1,`".to_string()
        }));
    };
    let Some(inner) = rest.strip_suffix(SUFFIX) else {
        return Err(malformed(
            "it does not end with `]` (truncated?); re-encrypt the value",
        ));
    };
    let Some((key_b64, body_b64)) = inner.split_once(',') else {
        return Err(malformed(
            "expected two comma-separated parts after `ENC[strata:v1,` (truncated?)",
        ));
    };
    if body_b64.contains(',') {
        return Err(malformed(
            "expected exactly two comma-separated parts after `ENC[strata:v1,`",
        ));
    }
    let wrapped_key = B64
        .decode(key_b64)
        .map_err(|e| malformed(&format!("the key part is not valid base64 ({e})")))?;
    let body = B64
        .decode(body_b64)
        .map_err(|e| malformed(&format!("the value part is not valid base64 ({e})")))?;
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(malformed("the value part is too short (truncated?)"));
    }

    let data_key = unwrap_data_key(&wrapped_key, param, identities)?;

    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(data_key.as_slice()));
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: param.as_bytes(),
            },
        )
        .map_err(|_| tampered())?;
    String::from_utf8(plain).map_err(|e| {
        let mut bytes = e.into_bytes();
        bytes.zeroize();
        malformed("the decrypted value is not valid UTF-8")
    })
}

/// Recovers the data key from its age-encrypted form.
fn unwrap_data_key(
    wrapped: &[u8],
    param: &str,
    identities: &Identities,
) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>, CryptoError> {
    use age::DecryptError as D;
    let malformed = |reason: String| CryptoError::Malformed {
        param: param.to_string(),
        reason,
    };
    let tampered = || CryptoError::Tampered {
        param: param.to_string(),
    };
    let map_age = |e: D| match e {
        D::NoMatchingKeys => CryptoError::NoMatchingKey {
            param: param.to_string(),
            identities: identities.keys.len(),
            source_name: identities.source.clone(),
        },
        D::InvalidMac | D::DecryptionFailed | D::KeyDecryptionFailed => tampered(),
        D::UnknownFormat => malformed("the key part is not an age v1 file".into()),
        D::InvalidHeader => malformed("the key part has an invalid age header".into()),
        other => malformed(format!("the key part cannot be read ({other})")),
    };

    let decryptor = age::Decryptor::new_buffered(wrapped).map_err(map_age)?;
    let mut reader = decryptor
        .decrypt(identities.keys.iter().map(|k| k as &dyn age::Identity))
        .map_err(map_age)?;
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    reader.read_exact(key.as_mut_slice()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            malformed("the data key is too short".into())
        } else {
            tampered()
        }
    })?;
    let mut extra = Zeroizing::new([0u8; 1]);
    match reader.read(extra.as_mut_slice()) {
        Ok(0) => Ok(key),
        Ok(_) => Err(malformed("the data key is too long".into())),
        Err(_) => Err(tampered()),
    }
}

/// ASCII-case-insensitive `starts_with`, without copying `s` (which may hold a secret).
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Generates a new age X25519 key pair: (`AGE-SECRET-KEY-1…`, `age1…`).
///
/// The secret key is returned as a plain `String`; write it to a file with restrictive
/// permissions and drop it promptly.
pub fn generate_identity() -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let secret = identity.to_string().expose_secret().to_string();
    (secret, identity.to_public().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PARAM: &str = "checkout:db.password";

    fn keypair() -> (Identities, Recipients, String) {
        let (secret, public) = generate_identity();
        let ids = Identities::parse(&secret).unwrap();
        let rec = Recipients::parse(std::slice::from_ref(&public)).unwrap();
        (ids, rec, public)
    }

    #[test]
    fn round_trip_one_recipient() {
        let (ids, rec, _) = keypair();
        for value in ["hunter2", "", "ünïcödé 🔑", &"x".repeat(10_000)] {
            let ct = encrypt(value, PARAM, &rec).unwrap();
            assert!(is_ciphertext(&ct), "{ct}");
            assert!(ct.starts_with("ENC[") && ct.ends_with(']'));
            assert!(!ct.contains(value) || value.is_empty());
            assert_eq!(decrypt(&ct, PARAM, &ids).unwrap(), value);
        }
    }

    #[test]
    fn round_trip_two_recipients_each_identity_alone() {
        let (s1, p1) = generate_identity();
        let (s2, p2) = generate_identity();
        let rec = Recipients::parse(&[p1.clone(), p2.clone()]).unwrap();
        assert_eq!(rec.len(), 2);
        let ct = encrypt("s3cret", PARAM, &rec).unwrap();
        let id1 = Identities::parse(&s1).unwrap();
        let id2 = Identities::parse(&s2).unwrap();
        assert_eq!(decrypt(&ct, PARAM, &id1).unwrap(), "s3cret");
        assert_eq!(decrypt(&ct, PARAM, &id2).unwrap(), "s3cret");
        let both = Identities::parse(&format!("# two keys\n\n{s1}\n  {s2}  \n")).unwrap();
        assert_eq!(both.recipients(), vec![p1, p2]);
        assert_eq!(decrypt(&ct, PARAM, &both).unwrap(), "s3cret");
    }

    #[test]
    fn wrong_identity_is_no_matching_key() {
        let (_, rec, _) = keypair();
        let (other, _, _) = keypair();
        let ct = encrypt("v", PARAM, &rec).unwrap();
        let err = decrypt(&ct, PARAM, &other.with_source("STRATA_AGE_IDENTITY")).unwrap_err();
        assert!(
            matches!(err, CryptoError::NoMatchingKey { identities: 1, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("none of the 1 age identities from STRATA_AGE_IDENTITY"),
            "{msg}"
        );
        assert!(msg.contains(PARAM), "{msg}");
    }

    #[test]
    fn ciphertext_moved_to_other_parameter_fails() {
        let (ids, rec, _) = keypair();
        let ct = encrypt("topsecret", PARAM, &rec).unwrap();
        let err = decrypt(&ct, "checkout:db.user", &ids).unwrap_err();
        assert!(matches!(err, CryptoError::Tampered { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("bound to another parameter or"), "{msg}");
        assert!(!msg.contains("topsecret") && !format!("{err:?}").contains("topsecret"));
    }

    /// Returns the byte ranges of the two base64 parts.
    fn parts(ct: &str) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let start = PREFIX.len();
        let comma = start + ct[start..].find(',').unwrap();
        (start..comma, comma + 1..ct.len() - 1)
    }

    #[test]
    fn flipped_character_anywhere_in_either_part_is_an_error() {
        let (ids, rec, _) = keypair();
        let ct = encrypt("the plaintext", PARAM, &rec).unwrap();
        let (key, body) = parts(&ct);
        for pos in key.chain(body) {
            let original = ct.as_bytes()[pos];
            for replacement in [b'A', b'B', b'/', b'='] {
                if replacement == original {
                    continue;
                }
                let mut bytes = ct.clone().into_bytes();
                bytes[pos] = replacement;
                let Ok(mutated) = String::from_utf8(bytes) else {
                    continue;
                };
                let res = decrypt(&mutated, PARAM, &ids);
                assert!(res.is_err(), "position {pos} -> {replacement}: {res:?}");
            }
        }
    }

    #[test]
    fn flipped_bit_in_decoded_bytes_is_an_error() {
        let (ids, rec, _) = keypair();
        let ct = encrypt("the plaintext", PARAM, &rec).unwrap();
        let (key, body) = parts(&ct);
        let key_bytes = B64.decode(&ct[key.clone()]).unwrap();
        let body_bytes = B64.decode(&ct[body.clone()]).unwrap();
        for i in 0..key_bytes.len() {
            let mut k = key_bytes.clone();
            k[i] ^= 0x01;
            let m = format!("{PREFIX}{},{}]", B64.encode(&k), &ct[body.clone()]);
            assert!(decrypt(&m, PARAM, &ids).is_err(), "key byte {i}");
        }
        for i in 0..body_bytes.len() {
            let mut b = body_bytes.clone();
            b[i] ^= 0x80;
            let m = format!("{PREFIX}{},{}]", &ct[key.clone()], B64.encode(&b));
            let err = decrypt(&m, PARAM, &ids).unwrap_err();
            assert!(
                matches!(err, CryptoError::Tampered { .. }),
                "body byte {i}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_strings() {
        let (ids, rec, _) = keypair();
        let ct = encrypt("v", PARAM, &rec).unwrap();
        let (key, _) = parts(&ct);
        let cases = [
            "plain".to_string(),
            "ENC[AES256_GCM,data:abc,type:str]".to_string(),
            "ENC[strata:v2,AAAA,AAAA]".to_string(),
            "ENC[strata:v1,".to_string(),
            "ENC[strata:v1,]".to_string(),
            "ENC[strata:v1,AAAA]".to_string(),
            "ENC[strata:v1,AAAA,AAAA,AAAA]".to_string(),
            "ENC[strata:v1,!!!!,AAAA]".to_string(),
            format!("{PREFIX}{},not base64!]", &ct[key.clone()]),
            ct[..ct.len() - 1].to_string(),
            ct[..ct.len() / 2].to_string(),
            format!("{}]", &ct[..ct.len() - 9]),
            format!("{PREFIX}{},AAAA]", &ct[key.clone()]),
            format!("{PREFIX}AAAA,{}]", &ct[key.end + 1..ct.len() - 1]),
            format!("{PREFIX}{},]", &ct[key.clone()]),
        ];
        for case in &cases {
            let err = decrypt(case, PARAM, &ids).unwrap_err();
            assert!(
                matches!(err, CryptoError::Malformed { .. }),
                "{case}: {err:?}"
            );
            assert!(err.to_string().contains(PARAM));
        }
        assert!(!is_ciphertext("plain"));
        assert!(!is_ciphertext("ENC[AGE,x]"));
        assert!(!is_ciphertext("ENC[strata:v1,AAAA]"));
        assert!(is_ciphertext(&ct));
    }

    #[test]
    fn same_value_twice_differs() {
        let (ids, rec, _) = keypair();
        let a = encrypt("same", PARAM, &rec).unwrap();
        let b = encrypt("same", PARAM, &rec).unwrap();
        assert_ne!(a, b);
        let (ka, ba) = parts(&a);
        let (kb, bb) = parts(&b);
        assert_ne!(a[ka], b[kb]);
        assert_ne!(a[ba], b[bb]);
        assert_eq!(decrypt(&a, PARAM, &ids).unwrap(), "same");
        assert_eq!(decrypt(&b, PARAM, &ids).unwrap(), "same");
    }

    #[test]
    fn recipient_errors_name_the_entry() {
        let (secret, public) = generate_identity();
        let err = Recipients::parse(&[public.clone(), "age1nope".into()]).unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidRecipient { index: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("`age1nope`"), "{err}");

        let err = Recipients::parse(std::slice::from_ref(&secret)).unwrap_err();
        assert!(!err.to_string().contains(&secret), "{err}");
        assert!(!format!("{err:?}").contains(&secret));
        assert!(err.to_string().contains("SECRET key"), "{err}");

        let err = Recipients::parse(&["ssh-ed25519 AAAA".into()]).unwrap_err();
        assert!(err.to_string().contains("SSH"), "{err}");

        let empty = Recipients::parse(&[]).unwrap();
        assert!(empty.is_empty());
        let err = encrypt("v", PARAM, &empty).unwrap_err();
        assert!(matches!(err, CryptoError::NoRecipients { .. }), "{err:?}");

        let dup = Recipients::parse(&[public.clone(), format!(" {public} ")]).unwrap();
        assert_eq!(dup.len(), 1);
    }

    #[test]
    fn identity_errors_never_echo_secrets() {
        let (secret, public) = generate_identity();
        // A different last character breaks the bech32 checksum (it catches any one change).
        let last = if secret.ends_with('X') { 'Y' } else { 'X' };
        let broken = format!("{}{last}", &secret[..secret.len() - 1]);
        let err = Identities::parse(&format!("# c\n\n{broken}\n")).unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidIdentity { line: 3, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains(&broken[20..]));
        assert!(!format!("{err:?}").contains(&broken[20..]));

        let err = Identities::parse(&public).unwrap_err();
        assert!(err.to_string().contains("public key"), "{err}");

        let err = Identities::parse("# only comments\n\n").unwrap_err();
        assert!(matches!(err, CryptoError::NoIdentities { .. }), "{err:?}");

        let ids = Identities::parse(&secret).unwrap();
        let dbg = format!("{ids:?}");
        assert!(!dbg.contains(&secret) && dbg.contains(&public), "{dbg}");
    }

    #[test]
    fn identities_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = generate_identity();
        let path = dir.path().join("keys.txt");
        std::fs::write(
            &path,
            format!("# created: now\n# public key: {public}\n{secret}\n"),
        )
        .unwrap();
        let ids = Identities::from_file(&path).unwrap();
        assert_eq!(ids.recipients(), vec![public.clone()]);
        let rec = Recipients::parse(&[public]).unwrap();
        let ct = encrypt("v", PARAM, &rec).unwrap();
        assert_eq!(decrypt(&ct, PARAM, &ids).unwrap(), "v");

        let missing = dir.path().join("missing.txt");
        let err = Identities::from_file(&missing).unwrap_err();
        assert!(matches!(err, CryptoError::IdentityFile { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.txt"), "{err}");
    }

    #[test]
    fn generated_keys_have_expected_shape() {
        let (secret, public) = generate_identity();
        assert!(secret.starts_with("AGE-SECRET-KEY-1"));
        assert!(public.starts_with("age1"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decrypt_never_panics_on_arbitrary_input(tail in ".*", raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (ids, _, _) = keypair();
            let _ = decrypt(&format!("{PREFIX}{tail}"), PARAM, &ids);
            let _ = decrypt(&format!("{PREFIX}{tail}]"), PARAM, &ids);
            let _ = decrypt(&format!("{PREFIX}{},{}]", B64.encode(&raw), B64.encode(&raw)), PARAM, &ids);
            let aged = {
                let mut v = b"age-encryption.org/v1\n-> X25519 ".to_vec();
                v.extend_from_slice(&raw);
                v
            };
            let _ = decrypt(&format!("{PREFIX}{},{tail}]", B64.encode(&aged)), PARAM, &ids);
        }

        #[test]
        fn mutated_ciphertext_never_yields_other_plaintext(
            value in "[ -~]{0,40}",
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let (ids, rec, _) = keypair();
            let ct = encrypt(&value, PARAM, &rec).unwrap();
            let mut bytes = ct.clone().into_bytes();
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            if let Ok(m) = String::from_utf8(bytes) {
                match decrypt(&m, PARAM, &ids) {
                    Ok(v) => prop_assert!(m == ct && v == value),
                    Err(_) => prop_assert!(m != ct),
                }
            }
        }
    }
}
