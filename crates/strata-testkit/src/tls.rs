//! A private certificate authority and a server certificate it issued, made with rcgen.
//!
//! Why here: the server's, the client's and the CLI's HTTPS tests each need a server
//! certificate that only a CA of the test's own vouches for (so that trusting the CA, or
//! not, is what the test decides).

use std::path::{Path, PathBuf};

use strata_server::tls::TlsFiles;

/// What [`issue`] wrote.
pub struct Issued {
    /// The CA's certificate, PEM (`ca.pem`).
    pub ca: PathBuf,
    /// The same certificate, as text.
    pub ca_pem: String,
    /// The server's certificate (`server.pem`, for `localhost` and `127.0.0.1`) and private
    /// key (`server.key`), PEM: what `ServerConfig::tls` takes.
    pub files: TlsFiles,
}

/// Makes a CA ("Strata test CA") and a server certificate it issued for `localhost` and
/// `127.0.0.1`, and writes them to `dir` (see [`Issued`]).
///
/// # Panics
///
/// When a key cannot be made or a file cannot be written.
pub fn issue(dir: &Path) -> Issued {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Strata test CA");
    let issuer = rcgen::CertifiedIssuer::self_signed(params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let ca = dir.join("ca.pem");
    let ca_pem = issuer.pem();
    std::fs::write(&ca, &ca_pem).unwrap();
    Issued { ca, ca_pem, files }
}
