//! JWT verification against real signatures: tokens are signed with the committed test keys
//! (tests/fixtures, see its README) and verified through the JWKS or HS256 paths.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use strata_auth::jwt::{self, Alg, JwtConfig, JwtError, JwtKey, Verifier};

const NOW: u64 = 1_750_000_000;
const ISSUER: &str = "https://idp.example.com/";
const AUDIENCE: &str = "strata";
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
const RSA_KID: &str = "rsa-2048-test";
const EC_KID: &str = "ec-p256-test";
const WEAK_KID: &str = "rsa-1024-weak";

const RSA_PEM: &[u8] = include_bytes!("fixtures/rsa-2048.pem");
const RSA_OTHER_PEM: &[u8] = include_bytes!("fixtures/rsa-2048-other.pem");
const RSA_WEAK_PEM: &[u8] = include_bytes!("fixtures/rsa-1024-weak.pem");
const EC_PEM: &[u8] = include_bytes!("fixtures/ec-p256.pem");
const JWKS: &[u8] = include_bytes!("fixtures/jwks.json");

fn jwks_config() -> JwtConfig {
    let mut c = JwtConfig::new(
        ISSUER,
        AUDIENCE,
        vec![Alg::Rs256, Alg::Es256],
        JwtKey::Jwks(JWKS.to_vec()),
    );
    c.roles_claim = Some("groups".to_owned());
    c.role_map = BTreeMap::from([
        ("platform".to_owned(), vec!["sre".to_owned()]),
        (
            "payments".to_owned(),
            vec!["payments-dev".to_owned(), "reader".to_owned()],
        ),
        ("auditors".to_owned(), vec!["reader".to_owned()]),
    ]);
    c
}

fn hs_config() -> JwtConfig {
    JwtConfig::new(
        ISSUER,
        AUDIENCE,
        vec![Alg::Hs256],
        JwtKey::Hs256Secret(HS_SECRET.to_vec()),
    )
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "email": "alice@example.com",
        "iat": NOW - 10,
        "exp": NOW + 3600,
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    sign(Algorithm::RS256, Some(RSA_KID), &key, claims)
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(EC_PEM).unwrap();
    sign(Algorithm::ES256, Some(EC_KID), &key, claims)
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(HS_SECRET),
        claims,
    )
}

/// A token with an arbitrary header and signature, built by hand.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Checks `token` fails with `want`, and that the error text never contains the token or
/// its signature.
fn assert_refused(token: &str, config: &JwtConfig, want: JwtError) {
    let got = jwt::verify(token, config, NOW);
    assert_eq!(got, Err(want));
    let message = got.unwrap_err().to_string();
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(
        !message.contains(token),
        "error message leaks the token: {message}"
    );
    assert!(
        signature.len() < 8 || !message.contains(signature),
        "error message leaks the signature: {message}"
    );
}

#[test]
fn fixture_jwks_matches_the_private_keys() {
    let set: JwkSet = serde_json::from_slice(JWKS).unwrap();
    for (kid, pem, alg) in [
        (RSA_KID, RSA_PEM, Algorithm::RS256),
        (WEAK_KID, RSA_WEAK_PEM, Algorithm::RS256),
        (EC_KID, EC_PEM, Algorithm::ES256),
    ] {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem).unwrap(),
        };
        let derived = Jwk::from_encoding_key(&key, alg).unwrap();
        let stored = set.find(kid).unwrap();
        match (&derived.algorithm, &stored.algorithm) {
            (AlgorithmParameters::RSA(a), AlgorithmParameters::RSA(b)) => {
                assert_eq!((&a.n, &a.e), (&b.n, &b.e), "{kid}");
            }
            (AlgorithmParameters::EllipticCurve(a), AlgorithmParameters::EllipticCurve(b)) => {
                assert_eq!((&a.curve, &a.x, &a.y), (&b.curve, &b.x, &b.y), "{kid}");
            }
            _ => panic!("{kid}: key types differ"),
        }
    }
    assert!(set.find("rsa-2048-other").is_none());
}

#[test]
fn hs256_round_trip() {
    let identity = jwt::verify(&hs256(&claims()), &hs_config(), NOW).unwrap();
    assert_eq!(identity.principal, "alice");
    assert!(identity.roles.is_empty());
    assert_eq!(identity.expires_at, NOW + 3600);
}

#[test]
fn hs256_with_another_secret_is_a_bad_signature() {
    let token = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
        &claims(),
    );
    assert_refused(&token, &hs_config(), JwtError::BadSignature);
}

#[test]
fn rs256_through_the_jwks() {
    let token = rs256(&with(claims(), "groups", json!(["platform"])));
    let identity = jwt::verify(&token, &jwks_config(), NOW).unwrap();
    assert_eq!(identity.principal, "alice");
    assert_eq!(identity.roles, vec!["sre"]);
    assert_eq!(identity.expires_at, NOW + 3600);
}

#[test]
fn es256_through_the_jwks() {
    let token = es256(&claims());
    let identity = jwt::verify(&token, &jwks_config(), NOW).unwrap();
    assert_eq!(identity.principal, "alice");
    assert!(identity.roles.is_empty());
}

#[test]
fn a_verifier_checks_many_tokens_with_one_configuration() {
    let verifier = Verifier::new(jwks_config()).unwrap();
    assert_eq!(
        verifier.verify(&rs256(&claims()), NOW).unwrap().principal,
        "alice"
    );
    assert_eq!(
        verifier.verify(&es256(&claims()), NOW).unwrap().principal,
        "alice"
    );
    assert_eq!(
        verifier.verify(&es256(&claims()), NOW + 7200),
        Err(JwtError::Expired {
            exp: NOW + 3600,
            now: NOW + 7200
        })
    );
}

#[test]
fn wrong_or_missing_issuer() {
    let config = jwks_config();
    assert_refused(
        &rs256(&with(claims(), "iss", json!("https://evil.example.com/"))),
        &config,
        JwtError::WrongIssuer {
            expected: ISSUER.to_owned(),
            found: Some("https://evil.example.com/".to_owned()),
        },
    );
    assert_refused(
        &rs256(&without(claims(), "iss")),
        &config,
        JwtError::WrongIssuer {
            expected: ISSUER.to_owned(),
            found: None,
        },
    );
    // Near misses are misses.
    assert!(matches!(
        jwt::verify(
            &rs256(&with(claims(), "iss", json!("https://idp.example.com"))),
            &config,
            NOW
        ),
        Err(JwtError::WrongIssuer { .. })
    ));
}

#[test]
fn wrong_or_missing_audience() {
    let config = jwks_config();
    let wrong = JwtError::WrongAudience {
        expected: AUDIENCE.to_owned(),
    };
    for aud in [
        Some(json!("other-app")),
        Some(json!(["other-app", "more"])),
        Some(json!([])),
        Some(json!(42)),
        None,
    ] {
        let c = match aud {
            Some(a) => with(claims(), "aud", a),
            None => without(claims(), "aud"),
        };
        assert_refused(&es256(&c), &config, wrong.clone());
    }
    // A list containing the audience is accepted.
    let c = with(claims(), "aud", json!(["other-app", AUDIENCE]));
    assert!(jwt::verify(&es256(&c), &config, NOW).is_ok());
}

#[test]
fn expiry_is_checked_against_the_given_time_with_leeway() {
    let config = jwks_config(); // leeway 60
    let c = with(claims(), "exp", json!(NOW - 61));
    assert_refused(
        &rs256(&c),
        &config,
        JwtError::Expired {
            exp: NOW - 61,
            now: NOW,
        },
    );
    // Exactly at exp + leeway: expired (the time must be before exp).
    let c = with(claims(), "exp", json!(NOW - 60));
    assert!(matches!(
        jwt::verify(&rs256(&c), &config, NOW),
        Err(JwtError::Expired { .. })
    ));
    // Inside the leeway: accepted.
    let c = with(claims(), "exp", json!(NOW - 59));
    assert!(jwt::verify(&rs256(&c), &config, NOW).is_ok());
    // Without leeway, expired.
    let mut strict = jwks_config();
    strict.leeway_secs = 0;
    assert!(matches!(
        jwt::verify(&rs256(&c), &strict, NOW),
        Err(JwtError::Expired { .. })
    ));
    // The same token is valid at an earlier `now`: nothing reads the system clock (the
    // fixed NOW is in 2025; a far-future exp against a far-past now also works).
    let far = with(claims(), "exp", json!(4_000_000_000u64));
    assert!(jwt::verify(&rs256(&far), &strict, 1).is_ok());
    // A fractional exp is accepted (rounded down).
    let c = with(claims(), "exp", json!((NOW + 10) as f64 + 0.5));
    assert_eq!(
        jwt::verify(&rs256(&c), &strict, NOW).unwrap().expires_at,
        NOW + 10
    );
}

#[test]
fn exp_is_required_and_must_be_a_number() {
    let config = jwks_config();
    assert_refused(
        &rs256(&without(claims(), "exp")),
        &config,
        JwtError::MissingClaim("exp".to_owned()),
    );
    for bad in [json!("tomorrow"), json!(-5), json!(null), json!({})] {
        let token = rs256(&with(claims(), "exp", bad));
        assert!(matches!(
            jwt::verify(&token, &config, NOW),
            Err(JwtError::Malformed(_))
        ));
    }
}

#[test]
fn nbf_in_the_future_is_not_yet_valid() {
    let config = jwks_config(); // leeway 60
    let c = with(claims(), "nbf", json!(NOW + 61));
    assert_refused(
        &es256(&c),
        &config,
        JwtError::NotYetValid {
            nbf: NOW + 61,
            now: NOW,
        },
    );
    // Within the leeway, or in the past: accepted.
    for nbf in [NOW + 60, NOW, NOW - 1000] {
        let c = with(claims(), "nbf", json!(nbf));
        assert!(jwt::verify(&es256(&c), &config, NOW).is_ok(), "nbf {nbf}");
    }
    let mut strict = jwks_config();
    strict.leeway_secs = 0;
    let c = with(claims(), "nbf", json!(NOW + 1));
    assert!(matches!(
        jwt::verify(&es256(&c), &strict, NOW),
        Err(JwtError::NotYetValid { .. })
    ));
}

#[test]
fn unknown_or_missing_kid() {
    let config = jwks_config();
    let key = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some("rotated-away"), &key, &claims());
    assert_refused(
        &token,
        &config,
        JwtError::UnknownKid(Some("rotated-away".to_owned())),
    );
    let token = sign(Algorithm::RS256, None, &key, &claims());
    assert_refused(&token, &config, JwtError::UnknownKid(None));
}

#[test]
fn tampered_tokens_fail_the_signature_check() {
    let config = jwks_config();
    for token in [rs256(&claims()), es256(&claims())] {
        // A changed signature.
        let (rest, sig) = token.rsplit_once('.').unwrap();
        let mut sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig_bytes[10] ^= 0x01;
        let tampered = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes));
        assert_refused(&tampered, &config, JwtError::BadSignature);
        // A truncated signature.
        let truncated = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(&sig_bytes[..20]));
        assert_refused(&truncated, &config, JwtError::BadSignature);
        // Changed claims under the original signature: "sub" becomes "admin".
        let mut parts = token.split('.');
        let (header, _, sig) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let forged_claims = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&with(claims(), "sub", json!("admin"))).unwrap());
        let forged = format!("{header}.{forged_claims}.{sig}");
        assert_refused(&forged, &config, JwtError::BadSignature);
        // An empty signature.
        assert_refused(&format!("{rest}."), &config, JwtError::BadSignature);
    }
    // Signed with a key that is not in the JWKS, under a kid that is.
    let other = EncodingKey::from_rsa_pem(RSA_OTHER_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(RSA_KID), &other, &claims());
    assert_refused(&token, &config, JwtError::BadSignature);
}

#[test]
fn alg_none_is_refused() {
    for config in [jwks_config(), hs_config()] {
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "None", "typ": "JWT"}),
            json!({"alg": "none", "kid": RSA_KID}),
        ] {
            let token = raw_token(&header, &claims(), b"");
            let alg = header["alg"].as_str().unwrap().to_owned();
            assert_refused(&token, &config, JwtError::UnsupportedAlgorithm(alg));
        }
    }
}

#[test]
fn algorithm_confusion_is_refused() {
    let config = jwks_config();
    // HS256 "signed" with the RSA public key as the HMAC secret, naming the RSA kid: the
    // classic confusion attack. HS256 is not accepted with a JWKS at all.
    let set: JwkSet = serde_json::from_slice(JWKS).unwrap();
    let AlgorithmParameters::RSA(rsa) = &set.find(RSA_KID).unwrap().algorithm else {
        panic!("fixture kid {RSA_KID} is not RSA");
    };
    let public_bytes = URL_SAFE_NO_PAD.decode(&rsa.n).unwrap();
    let token = sign(
        Algorithm::HS256,
        Some(RSA_KID),
        &EncodingKey::from_secret(&public_bytes),
        &claims(),
    );
    assert_refused(
        &token,
        &config,
        JwtError::UnsupportedAlgorithm("HS256".to_owned()),
    );
    // The same with the JWKS text itself as the secret.
    let token = sign(
        Algorithm::HS256,
        Some(RSA_KID),
        &EncodingKey::from_secret(JWKS),
        &claims(),
    );
    assert_refused(
        &token,
        &config,
        JwtError::UnsupportedAlgorithm("HS256".to_owned()),
    );

    // An ES256 token naming the RSA key, and an RS256 token naming the EC key.
    let ec = EncodingKey::from_ec_pem(EC_PEM).unwrap();
    let token = sign(Algorithm::ES256, Some(RSA_KID), &ec, &claims());
    assert_refused(
        &token,
        &config,
        JwtError::AlgorithmMismatch {
            alg: Alg::Es256,
            kid: RSA_KID.to_owned(),
        },
    );
    let rsa_key = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(EC_KID), &rsa_key, &claims());
    assert_refused(
        &token,
        &config,
        JwtError::AlgorithmMismatch {
            alg: Alg::Rs256,
            kid: EC_KID.to_owned(),
        },
    );

    // Algorithms outside the configured list are refused even when the key would verify.
    let mut rs_only = jwks_config();
    rs_only.algorithms = vec![Alg::Rs256];
    assert_refused(
        &es256(&claims()),
        &rs_only,
        JwtError::UnsupportedAlgorithm("ES256".to_owned()),
    );
    // RS256 against an HS256 configuration.
    assert_refused(
        &rs256(&claims()),
        &hs_config(),
        JwtError::UnsupportedAlgorithm("RS256".to_owned()),
    );
    // Algorithms Strata does not accept at all (PS256 uses the same RSA key).
    let token = sign(Algorithm::PS256, Some(RSA_KID), &rsa_key, &claims());
    assert_refused(
        &token,
        &config,
        JwtError::UnsupportedAlgorithm("PS256".to_owned()),
    );
    let token = sign(
        Algorithm::HS384,
        None,
        &EncodingKey::from_secret(HS_SECRET),
        &claims(),
    );
    assert_refused(
        &token,
        &hs_config(),
        JwtError::UnsupportedAlgorithm("HS384".to_owned()),
    );
}

#[test]
fn weak_and_unusable_keys_are_refused() {
    let weak = EncodingKey::from_rsa_pem(RSA_WEAK_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(WEAK_KID), &weak, &claims());
    assert!(matches!(
        jwt::verify(&token, &jwks_config(), NOW),
        Err(JwtError::InvalidKey { kid, .. }) if kid == WEAK_KID
    ));
    // An encryption key is not a signing key.
    let mut set: Value = serde_json::from_slice(JWKS).unwrap();
    set["keys"][0]["use"] = json!("enc");
    let mut config = jwks_config();
    config.key = JwtKey::Jwks(serde_json::to_vec(&set).unwrap());
    assert!(matches!(
        jwt::verify(&rs256(&claims()), &config, NOW),
        Err(JwtError::InvalidKey { .. })
    ));
    // A JWK whose `alg` disagrees with the token's.
    let mut set: Value = serde_json::from_slice(JWKS).unwrap();
    set["keys"][0]["alg"] = json!("RS512");
    config.key = JwtKey::Jwks(serde_json::to_vec(&set).unwrap());
    assert!(matches!(
        jwt::verify(&rs256(&claims()), &config, NOW),
        Err(JwtError::AlgorithmMismatch { .. })
    ));
    // A JWK without `alg` is fine if its type matches.
    let mut set: Value = serde_json::from_slice(JWKS).unwrap();
    set["keys"][0].as_object_mut().unwrap().remove("alg");
    set["keys"][0].as_object_mut().unwrap().remove("use");
    config.key = JwtKey::Jwks(serde_json::to_vec(&set).unwrap());
    assert!(jwt::verify(&rs256(&claims()), &config, NOW).is_ok());
    // Broken key material is an error, not a panic.
    let mut set: Value = serde_json::from_slice(JWKS).unwrap();
    set["keys"][1]["x"] = json!("AAAA");
    config.key = JwtKey::Jwks(serde_json::to_vec(&set).unwrap());
    assert!(matches!(
        jwt::verify(&es256(&claims()), &config, NOW),
        Err(JwtError::InvalidKey { .. })
    ));
    let mut set: Value = serde_json::from_slice(JWKS).unwrap();
    set["keys"][1]["crv"] = json!("P-384");
    config.key = JwtKey::Jwks(serde_json::to_vec(&set).unwrap());
    assert!(matches!(
        jwt::verify(&es256(&claims()), &config, NOW),
        Err(JwtError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn roles_map_from_a_string_claim() {
    let token = es256(&with(claims(), "groups", json!("payments")));
    let identity = jwt::verify(&token, &jwks_config(), NOW).unwrap();
    assert_eq!(identity.roles, vec!["payments-dev", "reader"]);
}

#[test]
fn roles_map_from_a_list_claim_sorted_without_duplicates() {
    let token = rs256(&with(
        claims(),
        "groups",
        json!(["auditors", "unmapped", "payments", "platform"]),
    ));
    let identity = jwt::verify(&token, &jwks_config(), NOW).unwrap();
    assert_eq!(identity.roles, vec!["payments-dev", "reader", "sre"]);
}

#[test]
fn roles_absent_unmapped_or_unconfigured() {
    let config = jwks_config();
    for groups in [
        None,
        Some(json!([])),
        Some(json!("nobody")),
        Some(json!(null)),
    ] {
        let c = match groups {
            Some(g) => with(claims(), "groups", g),
            None => claims(),
        };
        assert!(
            jwt::verify(&rs256(&c), &config, NOW)
                .unwrap()
                .roles
                .is_empty()
        );
    }
    // Without `roles_claim`, a token's groups grant nothing.
    let mut no_claim = jwks_config();
    no_claim.roles_claim = None;
    let c = with(claims(), "groups", json!(["platform"]));
    assert!(
        jwt::verify(&rs256(&c), &no_claim, NOW)
            .unwrap()
            .roles
            .is_empty()
    );
    // A roles claim of another type is malformed.
    for bad in [json!(7), json!({"platform": true}), json!(["platform", 1])] {
        let c = with(claims(), "groups", bad);
        assert!(matches!(
            jwt::verify(&rs256(&c), &config, NOW),
            Err(JwtError::Malformed(_))
        ));
    }
}

#[test]
fn principal_claim_is_configurable_and_required() {
    let mut config = jwks_config();
    config.principal_claim = "email".to_owned();
    let identity = jwt::verify(&rs256(&claims()), &config, NOW).unwrap();
    assert_eq!(identity.principal, "alice@example.com");
    for c in [
        without(claims(), "email"),
        with(claims(), "email", json!("")),
        with(claims(), "email", json!(12)),
    ] {
        assert_refused(
            &rs256(&c),
            &config,
            JwtError::MissingClaim("email".to_owned()),
        );
    }
    assert_refused(
        &rs256(&without(claims(), "sub")),
        &jwks_config(),
        JwtError::MissingClaim("sub".to_owned()),
    );
}

#[test]
fn malformed_tokens_are_errors_not_panics() {
    let good = rs256(&claims());
    let (header, rest) = good.split_once('.').unwrap();
    let huge = format!("{good}{}", "A".repeat(jwt::MAX_TOKEN_LEN));
    let cases = [
        String::new(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{good}.extra"),
        "!!!.???.***".to_owned(),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("not json")),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("[1,2]")),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg": 5}"#)),
        format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":7}"#)
        ),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("\u{0}\u{ff}")),
        format!("é{good}"),
        huge,
    ];
    for token in &cases {
        for config in [jwks_config(), hs_config()] {
            let got = jwt::verify(token, &config, NOW);
            assert!(
                matches!(
                    got,
                    Err(JwtError::Malformed(_) | JwtError::UnsupportedAlgorithm(_))
                ),
                "{token:.80}: {got:?}"
            );
        }
    }
    // A payload that is not base64url: the signature check fails first.
    let token = format!("{header}.@@@.sig");
    assert_eq!(
        jwt::verify(&token, &jwks_config(), NOW),
        Err(JwtError::BadSignature)
    );
    // Claims that are not an object, correctly signed.
    let key = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(RSA_KID), &key, &json!(["alice"]));
    assert!(matches!(
        jwt::verify(&token, &jwks_config(), NOW),
        Err(JwtError::Malformed(_))
    ));
    // Unknown critical header extensions.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(RSA_KID.to_owned());
    header.crit = Some(vec!["b64".to_owned()]);
    let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert!(matches!(
        jwt::verify(&token, &jwks_config(), NOW),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn long_values_from_the_token_are_shortened_in_errors() {
    let key = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let long_kid = "k".repeat(500);
    let token = sign(Algorithm::RS256, Some(&long_kid), &key, &claims());
    let Err(JwtError::UnknownKid(Some(kid))) = jwt::verify(&token, &jwks_config(), NOW) else {
        panic!("expected UnknownKid");
    };
    assert!(kid.chars().count() <= 65, "{}", kid.len());
}

#[test]
fn config_reads_from_json_with_defaults() {
    let jwks: Value = serde_json::from_slice(JWKS).unwrap();
    // The JWKS inline as a document…
    let config: JwtConfig = serde_json::from_value(json!({
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["RS256", "ES256"],
        "key": {"jwks": jwks},
        "roles_claim": "groups",
        "role_map": {"platform": ["sre"]},
    }))
    .unwrap();
    assert_eq!(config.principal_claim, "sub");
    assert_eq!(config.leeway_secs, 60);
    let token = rs256(&with(claims(), "groups", json!(["platform"])));
    assert_eq!(
        jwt::verify(&token, &config, NOW).unwrap().roles,
        vec!["sre"]
    );
    // …or as JSON text.
    let config: JwtConfig = serde_json::from_value(json!({
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["ES256"],
        "key": {"jwks": String::from_utf8(JWKS.to_vec()).unwrap()},
        "principal_claim": "email",
        "leeway_secs": 0,
    }))
    .unwrap();
    assert_eq!(
        jwt::verify(&es256(&claims()), &config, NOW)
            .unwrap()
            .principal,
        "alice@example.com"
    );
    // HS256 with a secret string.
    let config: JwtConfig = serde_json::from_value(json!({
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["HS256"],
        "key": {"hs256_secret": String::from_utf8(HS_SECRET.to_vec()).unwrap()},
    }))
    .unwrap();
    assert_eq!(config, hs_config());
    assert!(jwt::verify(&hs256(&claims()), &config, NOW).is_ok());
    // Debug never shows the secret.
    let shown = format!("{config:?}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn config_typos_and_unknown_algorithms_are_refused() {
    for bad in [
        json!({"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["HS256"],
               "key": {"hs256_secret": "x".repeat(40)}, "leway_secs": 5}),
        json!({"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["none"],
               "key": {"hs256_secret": "x".repeat(40)}}),
        json!({"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["HS256"],
               "key": {"pem": "x"}}),
        json!({"issuer": ISSUER, "algorithms": ["HS256"],
               "key": {"hs256_secret": "x".repeat(40)}}),
    ] {
        assert!(
            serde_json::from_value::<JwtConfig>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn unusable_configurations_are_refused_up_front() {
    let cases = [
        {
            let mut c = hs_config();
            c.key = JwtKey::Hs256Secret(b"too short".to_vec());
            c
        },
        {
            let mut c = hs_config();
            c.algorithms = vec![Alg::Hs256, Alg::Rs256];
            c
        },
        {
            let mut c = jwks_config();
            c.algorithms = vec![Alg::Rs256, Alg::Hs256];
            c
        },
        {
            let mut c = jwks_config();
            c.algorithms.clear();
            c
        },
        {
            let mut c = jwks_config();
            c.key = JwtKey::Jwks(b"{not json".to_vec());
            c
        },
        {
            let mut c = jwks_config();
            c.issuer.clear();
            c
        },
        {
            let mut c = jwks_config();
            c.audience.clear();
            c
        },
        {
            let mut c = jwks_config();
            c.principal_claim.clear();
            c
        },
    ];
    for config in cases {
        assert!(
            matches!(jwt::check_config(&config), Err(JwtError::InvalidConfig(_))),
            "{config:?}"
        );
        assert!(Verifier::new(config.clone()).is_err());
        assert!(matches!(
            jwt::verify(&rs256(&claims()), &config, NOW),
            Err(JwtError::InvalidConfig(_))
        ));
    }
    assert!(jwt::check_config(&jwks_config()).is_ok());
    assert!(jwt::check_config(&hs_config()).is_ok());
}
