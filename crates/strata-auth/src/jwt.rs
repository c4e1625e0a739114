//! Verification of JWTs issued by an external identity provider.
//!
//! Strata accepts three algorithms: HS256 with a shared secret, and RS256 and ES256 with
//! the issuer's public keys given as a JWKS document (the key is chosen by the token's
//! `kid`). The configuration ([`JwtConfig`]) is plain data, read with serde:
//!
//! ```yaml
//! issuer: https://idp.example.com/
//! audience: strata
//! algorithms: [RS256, ES256]
//! key:
//!   jwks: { keys: [ { kty: RSA, kid: "2024-01", n: "…", e: AQAB } ] }  # or a JSON string
//! principal_claim: email      # default: sub
//! roles_claim: groups         # optional; a string or a list of strings in the token
//! role_map:                   # claim value → Strata roles; unmapped values grant nothing
//!   platform-team: [sre]
//!   payments: [payments-dev]
//! leeway_secs: 60             # default: 60
//! ```
//!
//! or, with a shared secret, `algorithms: [HS256]` and `key: { hs256_secret: "…" }` (at
//! least 32 bytes).
//!
//! What [`verify`] checks, in order: the token's shape (three base64url parts, at most
//! 16 KiB); the header's `alg` against the configured list (so `none` and anything else
//! unknown are refused before any key is touched); the key (HS256 only with the secret,
//! RS256/ES256 only with a JWKS key of the matching type, curve and `alg`, found by `kid`;
//! RSA keys need ≥ 2048 bits); the signature; then the claims — `iss` equal to the
//! configured issuer, `aud` (a string or a list) containing the configured audience, `exp`
//! required and in the future, `nbf` (if present) not in the future, all against the
//! `now` passed in, with `leeway_secs` of tolerance each way. The clock is never read here.
//! jsonwebtoken checks only the signature; every claim is checked by this module.
//!
//! Errors never contain the token; the only values from it they may quote are the `alg`,
//! the `kid`, the issuer and the times, each shortened.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::{CryptoProvider, rust_crypto};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{DecodingKey, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Longest token accepted, in bytes. Real tokens are a few KiB at most.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Shortest accepted HS256 secret, in bytes (the size of the SHA-256 output, RFC 7518 §3.2).
pub const MIN_HS256_SECRET_LEN: usize = 32;
/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A signature algorithm Strata accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alg {
    /// HMAC with SHA-256 and a shared secret ([`JwtKey::Hs256Secret`]).
    #[serde(rename = "HS256")]
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, key from a JWKS ([`JwtKey::Jwks`]).
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256, key from a JWKS ([`JwtKey::Jwks`]).
    #[serde(rename = "ES256")]
    Es256,
}

impl Alg {
    /// The name used in JWT headers and in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    fn from_header(name: &str) -> Option<Alg> {
        match name {
            "HS256" => Some(Alg::Hs256),
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Hs256 => jsonwebtoken::Algorithm::HS256,
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            Alg::Hs256 => KeyAlgorithm::HS256,
            Alg::Rs256 => KeyAlgorithm::RS256,
            Alg::Es256 => KeyAlgorithm::ES256,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key material tokens are verified with.
///
/// In configuration: `{ hs256_secret: "<at least 32 characters>" }`, or
/// `{ jwks: <JWKS document as a map> }`, or `{ jwks: "<JWKS document as JSON text>" }`.
/// `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtKey {
    /// The HS256 shared secret (the bytes of the configured string).
    #[serde(deserialize_with = "de_secret")]
    Hs256Secret(Vec<u8>),
    /// A JWKS document (`{"keys": [...]}`) as JSON bytes, holding the issuer's RSA and
    /// P-256 public keys, each with a `kid`.
    #[serde(deserialize_with = "de_jwks")]
    Jwks(Vec<u8>),
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKey::Hs256Secret(_) => f.write_str("Hs256Secret([redacted])"),
            JwtKey::Jwks(bytes) => write!(f, "Jwks({} bytes)", bytes.len()),
        }
    }
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    String::deserialize(d).map(String::into_bytes)
}

fn de_jwks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrDocument {
        Text(String),
        Document(Value),
    }
    match TextOrDocument::deserialize(d)? {
        TextOrDocument::Text(text) => Ok(text.into_bytes()),
        TextOrDocument::Document(doc) => serde_json::to_vec(&doc).map_err(serde::de::Error::custom),
    }
}

/// How JWTs from one identity provider are verified and mapped to a Strata identity.
/// See the module documentation for the configuration shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The exact `iss` a token must carry.
    pub issuer: String,
    /// A value the token's `aud` (a string or a list) must contain.
    pub audience: String,
    /// Algorithms accepted. HS256 needs [`JwtKey::Hs256Secret`]; RS256 and ES256 need
    /// [`JwtKey::Jwks`]; the two kinds cannot be mixed.
    pub algorithms: Vec<Alg>,
    /// The secret or the public keys.
    pub key: JwtKey,
    /// The claim naming the principal (a non-empty string). Default `sub`.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// The claim holding group-like values to map to roles (for example `groups`); a
    /// string or a list of strings. `None`: tokens grant no roles.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Claim value → Strata roles. Values not listed grant nothing.
    #[serde(default)]
    pub role_map: BTreeMap<String, Vec<String>>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_principal_claim() -> String {
    "sub".to_owned()
}

fn default_leeway() -> u64 {
    60
}

impl JwtConfig {
    /// A configuration with the defaults for everything but issuer, audience, algorithms
    /// and key.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        algorithms: Vec<Alg>,
        key: JwtKey,
    ) -> Self {
        JwtConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms,
            key,
            principal_claim: default_principal_claim(),
            roles_claim: None,
            role_map: BTreeMap::new(),
            leeway_secs: default_leeway(),
        }
    }
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The value of the principal claim.
    pub principal: String,
    /// Strata roles from the role mapping, sorted, without duplicates.
    pub roles: Vec<String>,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Why a token was refused (or the configuration is unusable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed JWT: shape, base64url, JSON, or a claim of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is `none`, unknown, or not in the configured list.
    #[error("token algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// The key chosen by `kid` is not of the type, curve or `alg` the token's `alg` needs.
    #[error("token algorithm `{alg}` does not match key `{kid}`")]
    AlgorithmMismatch {
        /// The header's `alg`.
        alg: Alg,
        /// The header's `kid` (shortened).
        kid: String,
    },
    /// The token names no `kid`, or one the JWKS does not hold.
    #[error("{}", match .0 { Some(kid) => format!("unknown key id `{kid}`"), None => "token has no key id (`kid`)".to_owned() })]
    UnknownKid(Option<String>),
    /// The configured key for `kid` cannot be used (bad encoding, too weak).
    #[error("key `{kid}` cannot be used: {reason}")]
    InvalidKey {
        /// The key's `kid` (shortened).
        kid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature does not verify with the selected key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `iss` is missing or not the configured issuer.
    #[error("token issuer {} is not `{expected}`", match .found { Some(f) => format!("`{f}`"), None => "(missing)".to_owned() })]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
        /// The token's `iss` (shortened), if it is a string.
        found: Option<String>,
    },
    /// `aud` is missing or does not contain the configured audience.
    #[error("token audience does not include `{expected}`")]
    WrongAudience {
        /// The configured audience.
        expected: String,
    },
    /// `exp` (plus leeway) is not after `now`.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The time checked against.
        now: u64,
    },
    /// `nbf` (minus leeway) is after `now`.
    #[error("token is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// The time checked against.
        now: u64,
    },
    /// A required claim (`exp`, or the principal claim) is missing or empty.
    #[error("token has no `{0}` claim")]
    MissingClaim(String),
    /// The configuration cannot verify anything (see the message).
    #[error("invalid JWT configuration: {0}")]
    InvalidConfig(String),
}

/// A [`JwtConfig`] checked once and its JWKS parsed once, for verifying many tokens.
#[derive(Debug, Clone)]
pub struct Verifier {
    config: JwtConfig,
    jwks: Option<JwkSet>,
}

impl Verifier {
    /// Checks `config` (see [`check_config`]) and parses its JWKS.
    pub fn new(config: JwtConfig) -> Result<Self, JwtError> {
        let jwks = prepare(&config)?;
        Ok(Verifier { config, jwks })
    }

    /// The configuration this verifier uses.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Verifies `token` at time `now_unix_secs` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now_unix_secs: u64) -> Result<Identity, JwtError> {
        verify_prepared(token, &self.config, self.jwks.as_ref(), now_unix_secs)
    }
}

/// Verifies `token` against `config` at time `now_unix_secs` (seconds since the Unix
/// epoch) and returns the identity it carries. Parses the JWKS on every call; use a
/// [`Verifier`] to verify many tokens with one configuration.
pub fn verify(token: &str, config: &JwtConfig, now_unix_secs: u64) -> Result<Identity, JwtError> {
    let jwks = prepare(config)?;
    verify_prepared(token, config, jwks.as_ref(), now_unix_secs)
}

/// Checks that `config` can verify anything: issuer, audience, principal claim and
/// algorithms non-empty; HS256 only with a secret of at least 32 bytes; RS256/ES256 only
/// with a JWKS that parses.
pub fn check_config(config: &JwtConfig) -> Result<(), JwtError> {
    prepare(config).map(drop)
}

fn prepare(config: &JwtConfig) -> Result<Option<JwkSet>, JwtError> {
    let bad = |m: &str| Err(JwtError::InvalidConfig(m.to_owned()));
    if config.issuer.is_empty() {
        return bad("`issuer` is empty");
    }
    if config.audience.is_empty() {
        return bad("`audience` is empty");
    }
    if config.principal_claim.is_empty() {
        return bad("`principal_claim` is empty");
    }
    if config.algorithms.is_empty() {
        return bad("`algorithms` is empty");
    }
    match &config.key {
        JwtKey::Hs256Secret(secret) => {
            if config.algorithms.iter().any(|a| *a != Alg::Hs256) {
                return bad(
                    "`key.hs256_secret` verifies HS256 only; RS256 and ES256 need `key.jwks`",
                );
            }
            if secret.len() < MIN_HS256_SECRET_LEN {
                return Err(JwtError::InvalidConfig(format!(
                    "`key.hs256_secret` must be at least {MIN_HS256_SECRET_LEN} bytes"
                )));
            }
            Ok(None)
        }
        JwtKey::Jwks(bytes) => {
            if config.algorithms.contains(&Alg::Hs256) {
                return bad("HS256 needs `key.hs256_secret`; a JWKS verifies RS256 and ES256 only");
            }
            match serde_json::from_slice::<JwkSet>(bytes) {
                Ok(set) => Ok(Some(set)),
                Err(_) => bad("`key.jwks` is not a JWKS document (`{\"keys\": [...]}`)"),
            }
        }
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Value,
    #[serde(default)]
    kid: Option<Value>,
    #[serde(default)]
    crit: Option<Value>,
}

fn verify_prepared(
    token: &str,
    config: &JwtConfig,
    jwks: Option<&JwkSet>,
    now: u64,
) -> Result<Identity, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "a JWT has three parts separated by `.`",
        ));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed("the header is not base64url"))?;
    let header: RawHeader = serde_json::from_slice(&header_bytes)
        .map_err(|_| JwtError::Malformed("the header is not a JSON object with `alg`"))?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed(
            "the header lists `crit` extensions, which are not supported",
        ));
    }
    let alg_name = match &header.alg {
        Value::String(s) => s.as_str(),
        _ => return Err(JwtError::Malformed("the header's `alg` is not a string")),
    };
    let alg = match Alg::from_header(alg_name) {
        Some(alg) if config.algorithms.contains(&alg) => alg,
        _ => return Err(JwtError::UnsupportedAlgorithm(shorten(alg_name))),
    };
    let kid = match header.kid {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(JwtError::Malformed("the header's `kid` is not a string")),
    };

    let key = select_key(alg, kid.as_deref(), &config.key, jwks)?;

    // jsonwebtoken picks its crypto backend from its features, and its placeholder backend
    // panics when none — or both, should another crate enable `aws_lc_rs` — is selected.
    // Installing RustCrypto explicitly keeps verification working either way; if a
    // provider is already installed (by us earlier, or deliberately by the application),
    // that one stays.
    let _ = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);

    // Signature only: every claim is checked below against the `now` passed in.
    let mut validation = Validation::new(alg.to_jsonwebtoken());
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| map_decode_error(e, alg, kid.as_deref()))?;
    check_claims(&data.claims, config, now)
}

fn select_key(
    alg: Alg,
    kid: Option<&str>,
    key: &JwtKey,
    jwks: Option<&JwkSet>,
) -> Result<DecodingKey, JwtError> {
    match (alg, key, jwks) {
        (Alg::Hs256, JwtKey::Hs256Secret(secret), _) => Ok(DecodingKey::from_secret(secret)),
        (Alg::Rs256 | Alg::Es256, JwtKey::Jwks(_), Some(set)) => {
            let Some(kid) = kid else {
                return Err(JwtError::UnknownKid(None));
            };
            let Some(jwk) = set.find(kid) else {
                return Err(JwtError::UnknownKid(Some(shorten(kid))));
            };
            check_jwk(alg, kid, jwk)?;
            DecodingKey::from_jwk(jwk).map_err(|_| JwtError::InvalidKey {
                kid: shorten(kid),
                reason: "its parameters are not valid base64url",
            })
        }
        // `prepare` refuses configurations that pair an algorithm with the wrong kind of
        // key; refuse here too rather than trust that.
        _ => Err(JwtError::UnsupportedAlgorithm(alg.as_str().to_owned())),
    }
}

/// The JWK must be a signing key of the type (and curve) `alg` needs, and name `alg` if it
/// names an algorithm at all. RSA moduli must have at least [`MIN_RSA_BITS`] bits.
fn check_jwk(alg: Alg, kid: &str, jwk: &Jwk) -> Result<(), JwtError> {
    let mismatch = || JwtError::AlgorithmMismatch {
        alg,
        kid: shorten(kid),
    };
    if let Some(key_alg) = jwk.common.key_algorithm
        && key_alg != alg.key_algorithm()
    {
        return Err(mismatch());
    }
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != jsonwebtoken::jwk::PublicKeyUse::Signature
    {
        return Err(JwtError::InvalidKey {
            kid: shorten(kid),
            reason: "its `use` is not `sig`",
        });
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(rsa), Alg::Rs256) => {
            let n = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .map_err(|_| JwtError::InvalidKey {
                    kid: shorten(kid),
                    reason: "its modulus `n` is not base64url",
                })?;
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bits = match n.get(first) {
                Some(top) => (n.len() - first - 1) * 8 + (8 - top.leading_zeros() as usize),
                None => 0,
            };
            if bits < MIN_RSA_BITS {
                return Err(JwtError::InvalidKey {
                    kid: shorten(kid),
                    reason: "RSA keys need at least 2048 bits",
                });
            }
            Ok(())
        }
        (AlgorithmParameters::EllipticCurve(ec), Alg::Es256) if ec.curve == EllipticCurve::P256 => {
            Ok(())
        }
        _ => Err(mismatch()),
    }
}

fn map_decode_error(e: jsonwebtoken::errors::Error, alg: Alg, kid: Option<&str>) -> JwtError {
    use jsonwebtoken::errors::ErrorKind as K;
    let kid = || shorten(kid.unwrap_or("(none)"));
    match e.kind() {
        K::InvalidSignature => JwtError::BadSignature,
        K::InvalidAlgorithm => JwtError::AlgorithmMismatch { alg, kid: kid() },
        K::UnsupportedAlgorithm | K::MissingAlgorithm => {
            JwtError::UnsupportedAlgorithm(alg.as_str().to_owned())
        }
        K::InvalidEcdsaKey | K::InvalidRsaKey(_) | K::InvalidKeyFormat => JwtError::InvalidKey {
            kid: kid(),
            reason: "it is not a valid public key",
        },
        K::Base64(_) => JwtError::Malformed("a part is not base64url"),
        K::Json(_) => JwtError::Malformed("the claims are not a JSON object"),
        K::Utf8(_) => JwtError::Malformed("a part is not UTF-8"),
        _ => JwtError::Malformed("the token cannot be decoded"),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    config: &JwtConfig,
    now: u64,
) -> Result<Identity, JwtError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == config.issuer => {}
        other => {
            return Err(JwtError::WrongIssuer {
                expected: config.issuer.clone(),
                found: match other {
                    Some(Value::String(s)) => Some(shorten(s)),
                    _ => None,
                },
            });
        }
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == config.audience,
        Some(Value::Array(list)) => list
            .iter()
            .any(|v| v.as_str() == Some(config.audience.as_str())),
        _ => false,
    };
    if !audience_ok {
        return Err(JwtError::WrongAudience {
            expected: config.audience.clone(),
        });
    }

    let leeway = config.leeway_secs;
    let Some(exp) = numeric_date(claims, "exp")? else {
        return Err(JwtError::MissingClaim("exp".to_owned()));
    };
    // RFC 7519 §4.1.4: the current time must be before `exp`.
    if now >= exp.saturating_add(leeway) {
        return Err(JwtError::Expired { exp, now });
    }
    // RFC 7519 §4.1.5: the current time must be at or after `nbf`.
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(JwtError::NotYetValid { nbf, now });
    }

    let principal = match claims.get(&config.principal_claim) {
        Some(Value::String(p)) if !p.is_empty() => p.clone(),
        _ => return Err(JwtError::MissingClaim(shorten(&config.principal_claim))),
    };
    let roles = map_roles(claims, config)?;
    Ok(Identity {
        principal,
        roles,
        expires_at: exp,
    })
}

/// A NumericDate claim: seconds since the epoch, an integer or a fraction (rounded down).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, JwtError> {
    let bad = || {
        JwtError::Malformed(if name == "exp" {
            "`exp` is not a non-negative number of seconds"
        } else {
            "`nbf` is not a non-negative number of seconds"
        })
    };
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else {
                match n.as_f64() {
                    // `as` saturates at u64::MAX for large finite values.
                    Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(f.floor() as u64)),
                    _ => Err(bad()),
                }
            }
        }
        Some(_) => Err(bad()),
    }
}

fn map_roles(claims: &Map<String, Value>, config: &JwtConfig) -> Result<Vec<String>, JwtError> {
    let Some(claim) = &config.roles_claim else {
        return Ok(Vec::new());
    };
    let values: Vec<&str> = match claims.get(claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => {
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                match item.as_str() {
                    Some(s) => out.push(s),
                    None => {
                        return Err(JwtError::Malformed(
                            "the roles claim is not a string or a list of strings",
                        ));
                    }
                }
            }
            out
        }
        Some(_) => {
            return Err(JwtError::Malformed(
                "the roles claim is not a string or a list of strings",
            ));
        }
    };
    let mut roles = BTreeSet::new();
    for value in values {
        if let Some(mapped) = config.role_map.get(value) {
            roles.extend(mapped.iter().cloned());
        }
    }
    Ok(roles.into_iter().collect())
}

/// At most 64 characters of a value taken from a token, for error messages.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
