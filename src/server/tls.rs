//! The TLS listener's configuration: certificate chain and key from PEM
//! files, h2 and HTTP/1.1 offered by ALPN.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::TlsAcceptor;

pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = rustls_pemfile::certs(
        &mut std::fs::read(cert)
            .with_context(|| format!("reading {}", cert.display()))?
            .as_slice(),
    )
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("parsing certificates in {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate found", cert.display());
    }
    let key = rustls_pemfile::private_key(
        &mut std::fs::read(key)
            .with_context(|| format!("reading {}", key.display()))?
            .as_slice(),
    )
    .with_context(|| format!("parsing the key in {}", key.display()))?
    .with_context(|| format!("{}: no private key found", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
