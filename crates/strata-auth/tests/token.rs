//! API tokens: format, round trip, tampering, redaction.

use strata_auth::token::{
    self, ID_HEX_LEN, PREFIX, SECRET_HEX_LEN, SecretText, TOKEN_LEN, TokenError,
};

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn generated_token_has_the_documented_format() {
    let (tok, stored) = token::generate("alice").unwrap();
    let text = tok.secret_text.expose();
    assert_eq!(text.len(), TOKEN_LEN);
    assert!(text.starts_with("strata_"));
    let rest = &text[PREFIX.len()..];
    let (id, secret) = rest.split_once('_').unwrap();
    assert_eq!(id.len(), ID_HEX_LEN);
    assert_eq!(secret.len(), SECRET_HEX_LEN);
    assert!(is_lower_hex(id) && is_lower_hex(secret));
    assert_eq!(tok.id, id);
    assert_eq!(stored.id, id);
    assert_eq!(stored.principal, "alice");
    assert_eq!(stored.hash.len(), 64);
    assert!(is_lower_hex(&stored.hash));
}

#[test]
fn round_trip_parse_hash_verify() {
    let (tok, stored) = token::generate("ci-bot").unwrap();
    let text = tok.secret_text.expose();
    let parsed = token::parse(text).unwrap();
    assert_eq!(parsed.id, tok.id);
    assert_eq!(parsed.secret().len(), SECRET_HEX_LEN);
    assert_eq!(token::hash(text), stored.hash);
    assert!(token::verify(text, &stored.hash));
    // The stored record is plain data (serde), and never holds the token.
    let json = serde_json::to_string(&stored).unwrap();
    assert!(!json.contains(parsed.secret()));
    let back: token::TokenHash = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);
}

#[test]
fn tokens_are_unique() {
    let (a, ha) = token::generate("alice").unwrap();
    let (b, hb) = token::generate("alice").unwrap();
    assert_ne!(a.secret_text.expose(), b.secret_text.expose());
    assert_ne!(a.id, b.id);
    assert_ne!(ha.hash, hb.hash);
    assert!(!token::verify(a.secret_text.expose(), &hb.hash));
    assert!(!token::verify(b.secret_text.expose(), &ha.hash));
}

#[test]
fn hash_is_blake3_hex_of_the_whole_text() {
    // BLAKE3 test vector for the empty input.
    assert_eq!(
        token::hash(""),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    let (tok, _) = token::generate("x").unwrap();
    let text = tok.secret_text.expose();
    assert_eq!(token::hash(text), token::hash(text));
    assert_ne!(token::hash(text), token::hash(&text[..TOKEN_LEN - 1]));
}

#[test]
fn any_changed_character_fails_verification() {
    let (tok, stored) = token::generate("alice").unwrap();
    let text = tok.secret_text.expose().to_owned();
    for i in PREFIX.len()..text.len() {
        let mut bytes = text.clone().into_bytes();
        if bytes[i] == b'_' {
            continue;
        }
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(token::parse(&tampered).is_ok());
        assert!(!token::verify(&tampered, &stored.hash), "position {i}");
    }
}

#[test]
fn malformed_text_is_refused() {
    let (tok, stored) = token::generate("alice").unwrap();
    let text = tok.secret_text.expose();
    let cases: Vec<(String, TokenError)> = vec![
        (String::new(), TokenError::MissingPrefix),
        (
            text.replacen("strata_", "strata-", 1),
            TokenError::MissingPrefix,
        ),
        (
            text.replacen("strata_", "STRATA_", 1),
            TokenError::MissingPrefix,
        ),
        (text[..TOKEN_LEN - 1].to_owned(), TokenError::BadLength),
        (format!("{text}0"), TokenError::BadLength),
        (format!(" {text}"), TokenError::MissingPrefix),
        (
            format!("{PREFIX}{}_{}", "A".repeat(12), "a".repeat(64)),
            TokenError::BadId,
        ),
        (
            format!("{PREFIX}{}-{}", "a".repeat(12), "a".repeat(64)),
            TokenError::BadId,
        ),
        (
            format!("{PREFIX}{}_{}", "a".repeat(12), "g".repeat(64)),
            TokenError::BadSecret,
        ),
        (
            format!("{PREFIX}{}_{}", "a".repeat(12), text[20..].to_uppercase()),
            TokenError::BadSecret,
        ),
        (
            format!("{PREFIX}{}_{}", "a".repeat(11), "a".repeat(65)),
            TokenError::BadId,
        ),
    ];
    for (bad, want) in cases {
        assert_eq!(token::parse(&bad).err(), Some(want.clone()), "{bad:?}");
        // Errors never echo the text.
        assert!(bad.is_empty() || !want.to_string().contains(&bad));
        assert!(!token::verify(&bad, &stored.hash));
        // Even when the stored hash is the malformed text's own hash.
        assert!(!token::verify(&bad, &token::hash(&bad)));
    }
}

#[test]
fn malformed_stored_hash_never_verifies() {
    let (tok, stored) = token::generate("alice").unwrap();
    let text = tok.secret_text.expose();
    for bad in [
        String::new(),
        "zz".repeat(32),
        stored.hash[..63].to_owned(),
        format!("{}0", stored.hash),
        stored.hash.to_uppercase().replace(char::is_numeric, "G"),
    ] {
        assert!(!token::verify(text, &bad), "{bad:?}");
    }
    // BLAKE3's hex reader accepts upper case too; that still names the same hash.
    assert!(token::verify(text, &stored.hash.to_uppercase()));
}

#[test]
fn token_text_is_redacted_everywhere() {
    let (tok, stored) = token::generate("alice").unwrap();
    let text = tok.secret_text.expose().to_owned();
    let secret = token::parse(&text).unwrap().secret().to_owned();
    let shown = [
        format!("{tok:?}"),
        format!("{tok:#?}"),
        format!("{:?}", tok.secret_text),
        format!("{}", tok.secret_text),
        format!("{stored:?}"),
        format!("{:?}", token::parse(&text).unwrap()),
    ];
    for s in &shown {
        assert!(!s.contains(&secret), "secret leaked in {s}");
        assert!(!s.contains(&text), "token leaked in {s}");
    }
    assert_eq!(
        tok.secret_text.to_string(),
        format!("strata_{}_[redacted]", tok.id)
    );
    assert!(
        shown[0].contains(&tok.id),
        "the id is not secret and helps: {}",
        shown[0]
    );
    // Arbitrary text wrapped by the caller is redacted whole.
    let wrapped = SecretText::new("hunter2".to_owned());
    assert_eq!(format!("{wrapped}"), "[redacted]");
    assert_eq!(format!("{wrapped:?}"), "SecretText([redacted])");
    assert_eq!(wrapped.expose(), "hunter2");
}
