//! # strata-auth
//!
//! Authentication primitives shared by the `strata` CLI and (later) the HTTP server
//! (DESIGN §7): who is calling, and — optionally — what an external policy engine says
//! about what they may do.
//!
//! - [`token`]: Strata API tokens, `strata_<id>_<secret>`. Only a BLAKE3 hash of a token is
//!   ever stored; [`token::verify`] compares in constant time.
//! - [`jwt`]: verification of JWTs from an external identity provider (HS256 with a shared
//!   secret, RS256/ES256 with the issuer's JWKS), mapping a claim to Strata roles.
//! - [`webhook`]: an OPA-compatible authorization webhook client that fails closed.
//!
//! Architecture invariant: nothing here reads the clock (the current time is passed in),
//! keeps state, or writes logs; token text and secrets never appear in `Debug`, `Display`
//! or error messages. The only I/O is the webhook's HTTP request.
//!
//! ```
//! use strata_auth::token;
//!
//! let (token, stored) = token::generate("alice").unwrap();
//! // Show `token.secret_text.expose()` to the user once; persist only `stored`.
//! assert!(token::verify(token.secret_text.expose(), &stored.hash));
//! assert!(!format!("{token:?}").contains(token.secret_text.expose()));
//! ```

pub mod identity;
pub mod jwt;
pub mod token;
pub mod webhook;
