//! TLS termination with rustls; the certificate can be swapped at run time.
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// The current certificate, shared by every new handshake; [`TlsState::reload`] swaps it.
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// TLS acceptor plus the files it came from.
#[derive(Clone)]
pub struct TlsState {
    resolver: Arc<Resolver>,
    acceptor: tokio_rustls::TlsAcceptor,
    files: TlsFiles,
}

fn load_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate PEM {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read private key {}: {e}", files.key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key {}: {e}", files.key.display()))?;
    let ck = CertifiedKey::new(certs, signing);
    // A half-swapped pair (new key, old certificate) must never be served.
    ck.keys_match().map_err(|e| {
        format!(
            "certificate {} and key {} do not belong together: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    Ok(Arc::new(ck))
}

impl TlsState {
    /// Loads certificate and key.
    pub fn load(files: &TlsFiles) -> Result<Self, String> {
        let key = load_key(files)?;
        let resolver = Arc::new(Resolver(RwLock::new(key)));
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsState {
            resolver,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
            files: files.clone(),
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.acceptor.clone()
    }

    /// Re-reads the files; on success new handshakes use the new certificate. On failure the old
    /// one stays and the reason is returned.
    pub fn reload(&self) -> Result<(), String> {
        let key = load_key(&self.files)?;
        match self.resolver.0.write() {
            Ok(mut g) => {
                *g = key;
                Ok(())
            }
            Err(_) => Err("certificate lock poisoned".into()),
        }
    }

    /// The files (for change detection).
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}
