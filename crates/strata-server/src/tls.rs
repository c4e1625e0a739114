//! HTTPS for `strata serve --tls-cert FILE --tls-key FILE`: the certificate chain and the
//! private key read from PEM files into a rustls server configuration (ring provider,
//! TLS 1.2 and 1.3, HTTP/1.1 by ALPN). Every error names the file and what is wrong with
//! it; nothing here ever prints key material.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The PEM files of a TLS server: the certificate chain (leaf first) and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, PEM (`-----BEGIN CERTIFICATE-----`, leaf first).
    pub cert: PathBuf,
    /// The private key, PEM: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 RSA or SEC1 EC.
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("the TLS {what} file {} is not valid PEM: {reason}", path.display())]
    BadPem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error(
        "the TLS certificate file {} holds no certificate (expected `-----BEGIN CERTIFICATE-----` blocks, the server's certificate first)",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "the TLS key file {} holds no private key (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair (a key that does not match the certificate, an unsupported
    /// key type, a certificate that does not parse).
    #[error("the TLS key {} cannot serve the certificate {}: {reason}", key.display(), cert.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn bad_pem(what: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    TlsError::BadPem {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads `files` into a rustls server configuration (ring provider, the safe default
/// protocol versions, no client certificates, ALPN `http/1.1`).
pub fn load(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_pem = read("certificate", &files.cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem("certificate", &files.cert, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key_pem = read("key", &files.key)?;
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: files.key.clone(),
            });
        }
        Err(e) => return Err(bad_pem("key", &files.key, &e)),
    };
    let rejected = |e: rustls::Error| TlsError::Rejected {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(rejected)?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &[u8], key: &[u8]) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    #[test]
    fn a_self_signed_pair_loads_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = one.cert.pem();
        let key = one.signing_key.serialize_pem();

        let ok = files(dir.path(), cert.as_bytes(), key.as_bytes());
        let config = load(&ok).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);

        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: ok.key.clone(),
        };
        let e = load(&missing).unwrap_err().to_string();
        assert!(
            e.contains("certificate file") && e.contains("nope.pem"),
            "{e}"
        );

        let swapped = files(dir.path(), key.as_bytes(), cert.as_bytes());
        let e = load(&swapped).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");

        let no_key = files(dir.path(), cert.as_bytes(), cert.as_bytes());
        let e = load(&no_key).unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        assert!(e.to_string().contains("key.pem"), "{e}");

        let broken = files(
            dir.path(),
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            key.as_bytes(),
        );
        let e = load(&broken).unwrap_err();
        assert!(matches!(e, TlsError::BadPem { .. }), "{e}");

        let mismatched = files(
            dir.path(),
            cert.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        );
        let e = load(&mismatched).unwrap_err();
        assert!(matches!(e, TlsError::Rejected { .. }), "{e}");
        assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
    }
}
