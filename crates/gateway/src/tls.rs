//! TLS termination (`--ssl-certfile`, `--ssl-keyfile`, as mcpo's): rustls
//! with the ring provider, the certificate chain and key read once at
//! start, ALPN `h2` and `http/1.1`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;

/// An acceptor for the certificate chain in `cert` and the private key in
/// `key` (PEM files); the error names the file that is wrong.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ConfigError> {
    let named =
        |flag: &str, path: &Path, why: String| ConfigError::new(format!("{flag} {}: {why}", path.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|error| named("--ssl-certfile", cert, error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| named("--ssl-certfile", cert, format!("not a PEM certificate: {error}")))?;
    if chain.is_empty() {
        return Err(named("--ssl-certfile", cert, "no certificate in it".to_owned()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|error| named("--ssl-keyfile", key, format!("no PEM private key: {error}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ConfigError::new(format!("TLS: {error}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|error| {
            named(
                "--ssl-keyfile",
                key,
                format!("does not go with the certificate: {error}"),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
