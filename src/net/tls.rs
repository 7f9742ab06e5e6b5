//! TLS for clients on `tls-port` and for our own link to a master (tls-replication): rustls
//! (ring provider) configured from Redis's tls-* directives, and a non-blocking stream the
//! event loop drives like a plain socket.
//!
//! The handshake advances on the same readiness events as reads and writes, so a slow or
//! stalled peer never holds the loop.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::crypto::ring as provider;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
    SupportedCipherSuite,
};

/// The ring provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange,
/// which OpenSSL 3.0 (Redis's TLS) lacks too; aws-lc-rs has it but costs minutes of C build.
pub fn ring_provider() -> CryptoProvider {
    #[allow(deprecated)]
    provider::default_provider()
}

/// The tls-* directives that shape the server side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    /// "yes", "no" or "optional".
    pub auth_clients: &'static str,
    pub protocols: String,
    pub ciphers: String,
    pub ciphersuites: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: usize,
    /// Our certificate as a client (tls-client-*; tls-cert-file's when unset).
    pub client_cert_file: String,
    pub client_key_file: String,
    pub client_key_file_pass: String,
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "Failed to load {what}: {path}: {}",
            crate::util::strerror(&e)
        )
    })
}

fn certificates(pem: &[u8], path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("Failed to load certificate: {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "Failed to load certificate: {path}: no certificate found"
        ));
    }
    Ok(certs)
}

/// The private key in `pem`, decrypted with `pass` when it is an encrypted PKCS#8 key.
fn private_key(pem: &[u8], path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: String| format!("Failed to load private key: {path}: {why}");
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        use pkcs8::der::Decode;
        let (_, doc) = pkcs8::SecretDocument::from_pem(&text).map_err(|e| fail(e.to_string()))?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        let plain = encrypted
            .decrypt(pass.as_bytes())
            .map_err(|_| fail("bad decrypt (wrong tls-key-file-pass?)".into()))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| fail(e.to_string()))
}

/// Trusted CAs for client certificates: tls-ca-cert-file and every certificate file in
/// tls-ca-cert-dir.
fn client_roots(s: &TlsSettings) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |path: &str| -> Result<(), String> {
        let pem = read_file(path, "CA certificate(s)")?;
        for cert in certificates(&pem, path)? {
            roots
                .add(cert)
                .map_err(|e| format!("Failed to configure CA certificate(s): {path}: {e}"))?;
        }
        Ok(())
    };
    if !s.ca_cert_file.is_empty() {
        add(&s.ca_cert_file)?;
    }
    if !s.ca_cert_dir.is_empty() {
        let dir = std::fs::read_dir(&s.ca_cert_dir).map_err(|e| {
            format!(
                "Failed to configure CA certificate(s) file and/or directory: {}: {}",
                s.ca_cert_dir,
                crate::util::strerror(&e)
            )
        })?;
        for entry in dir.flatten() {
            let path = entry.path();
            if path.is_file() {
                // OpenSSL's hashed directories hold links and other files: take what parses.
                let _ = add(&path.to_string_lossy());
            }
        }
    }
    Ok(roots)
}

/// OpenSSL's TLS 1.2 cipher names and rustls's suites.
const TLS12_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

fn suite_name(s: &SupportedCipherSuite) -> String {
    format!("{:?}", s.suite())
}

/// Applies an OpenSSL-style cipher list (`a:b:!c`, DEFAULT/HIGH/ALL keep everything) to the
/// suites of one protocol version; names the provider lacks are refused.
fn select_suites(
    list: &str,
    available: &[SupportedCipherSuite],
    openssl_name: impl Fn(&str) -> Option<String>,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for item in list.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
        let (negate, name) = match item.strip_prefix(['!', '-']) {
            Some(n) => (true, n),
            None => (false, item.strip_prefix('+').unwrap_or(item)),
        };
        if matches!(name, "DEFAULT" | "HIGH" | "ALL" | "SECURE" | "@STRENGTH") {
            if !negate {
                chosen.extend(available.iter().copied());
            }
            continue;
        }
        let Some(rustls_name) = openssl_name(name) else {
            if negate {
                continue;
            }
            return Err(format!(
                "Failed to configure ciphers: unsupported cipher '{name}'"
            ));
        };
        if negate {
            removed.push(rustls_name);
        } else if let Some(s) = available.iter().find(|s| suite_name(s) == rustls_name) {
            chosen.push(*s);
        } else {
            return Err(format!(
                "Failed to configure ciphers: unsupported cipher '{name}'"
            ));
        }
    }
    chosen.retain(|s| !removed.contains(&suite_name(s)));
    let mut unique: Vec<SupportedCipherSuite> = Vec::new();
    for s in chosen {
        if !unique.iter().any(|u| u.suite() == s.suite()) {
            unique.push(s);
        }
    }
    Ok(unique)
}

/// Builds the server configuration, or says what is wrong (as Redis logs it).
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    if s.cert_file.is_empty() || s.key_file.is_empty() {
        return Err("No tls-cert-file or tls-key-file configured".into());
    }
    let mut provider: CryptoProvider = ring_provider();
    let all = provider.cipher_suites.clone();
    let (tls13, tls12): (Vec<_>, Vec<_>) = all
        .iter()
        .partition(|c| c.version() == &rustls::version::TLS13);
    let mut suites: Vec<SupportedCipherSuite> = Vec::new();
    suites.extend(if s.ciphersuites.is_empty() {
        tls13.clone()
    } else {
        select_suites(&s.ciphersuites, &tls13, |n| Some(n.to_string()))?
    });
    suites.extend(if s.ciphers.is_empty() {
        tls12.clone()
    } else {
        select_suites(&s.ciphers, &tls12, |n| {
            TLS12_NAMES
                .iter()
                .find(|(o, _)| *o == n)
                .map(|(_, r)| r.to_string())
        })?
    });
    provider.cipher_suites = suites;
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if s.protocols.trim().is_empty() {
        versions.extend([&rustls::version::TLS12, &rustls::version::TLS13]);
    } else {
        for p in s.protocols.split_whitespace() {
            match p.to_ascii_lowercase().as_str() {
                "tlsv1.2" => versions.push(&rustls::version::TLS12),
                "tlsv1.3" => versions.push(&rustls::version::TLS13),
                "tlsv1" | "tlsv1.1" => {
                    return Err(format!(
                    "Invalid tls-protocols specified: {p} is not supported (TLS 1.2 and 1.3 only)"
                ))
                }
                _ => return Err(format!("Invalid tls-protocols specified: {p}")),
            }
        }
    }
    let builder = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS protocols: {e}"))?;
    let verifier = match s.auth_clients {
        "no" => WebPkiClientVerifier::no_client_auth(),
        mode => {
            let roots = client_roots(s)?;
            if roots.is_empty() {
                return Err(
                    "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when \
                     tls-auth-clients is set"
                        .into(),
                );
            }
            let b = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(ring_provider()),
            );
            let b = if mode == "optional" {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build()
                .map_err(|e| format!("Failed to configure client verification: {e}"))?
        }
    };
    let certs = certificates(&read_file(&s.cert_file, "certificate")?, &s.cert_file)?;
    let key = private_key(
        &read_file(&s.key_file, "private key")?,
        &s.key_file,
        &s.key_file_pass,
    )?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("Failed to load private key: {}: {e}", s.key_file))?;
    config.ignore_client_order = s.prefer_server_ciphers;
    if s.session_caching {
        config.session_storage = ServerSessionMemoryCache::new(s.session_cache_size.max(1));
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// Checks a master's certificate chain against our CAs but not its name: Redis (OpenSSL with
/// SSL_VERIFY_PEER and no host check) accepts any certificate its CAs signed.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The client side, for our link to a master: its certificate checked against
/// tls-ca-cert-file/-dir, ours from tls-client-cert-file/-key-file (or the server's).
pub fn client_config(s: &TlsSettings) -> Result<Arc<ClientConfig>, String> {
    let roots = client_roots(s)?;
    if roots.is_empty() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified".into());
    }
    let provider = Arc::new(ring_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("Failed to configure CA certificate(s): {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("Failed to configure TLS protocols: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)));
    let (cert_file, key_file, pass) = if s.client_cert_file.is_empty() {
        (&s.cert_file, &s.key_file, &s.key_file_pass)
    } else {
        (
            &s.client_cert_file,
            &s.client_key_file,
            &s.client_key_file_pass,
        )
    };
    let config = if cert_file.is_empty() || key_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let certs = certificates(&read_file(cert_file, "certificate")?, cert_file)?;
        let key = private_key(&read_file(key_file, "private key")?, key_file, pass)?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("Failed to load private key: {key_file}: {e}"))?
    };
    Ok(Arc::new(config))
}

/// A TLS connection over a non-blocking TCP socket, as the server or as a client.
pub struct TlsStream {
    pub tcp: TcpStream,
    tls: Connection,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    pub fn new(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let tls = ServerConnection::new(config).map_err(tls_error)?;
        Ok(TlsStream {
            tcp,
            tls: tls.into(),
        })
    }

    /// Our side of a connection to `host` (the name is sent, not checked: `ChainOnly`).
    pub fn client(tcp: TcpStream, config: Arc<ClientConfig>, host: &str) -> io::Result<TlsStream> {
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap_or_else(|_| {
            rustls::pki_types::ServerName::try_from("localhost").expect("a name")
        });
        let tls = ClientConnection::new(config, name).map_err(tls_error)?;
        Ok(TlsStream {
            tcp,
            tls: tls.into(),
        })
    }

    /// Decrypted bytes into `buf`: Ok(0) at the end of the stream, WouldBlock when the socket
    /// has nothing more. Handshake records are answered on the way.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    let processed = self.tls.process_new_packets();
                    // Whatever the outcome, the peer should hear it (alerts included).
                    let _ = self.flush_pending();
                    processed.map_err(tls_error)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts what rustls accepts of `data` and sends what the socket takes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.tls.writer().write(data)?;
        self.flush_pending()?;
        if n == 0 && !data.is_empty() {
            // rustls's buffer is full and the socket takes nothing: wait for writability.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends buffered TLS records. Ok(true) when none are left.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    pub fn has_pending_output(&self) -> bool {
        self.tls.wants_write()
    }

    /// Queues the close_notify alert and sends what the socket takes now: the peer sees a
    /// clean end of the session rather than a truncation (OpenSSL clients otherwise fail
    /// their next read, and may die of SIGPIPE writing their own alert back).
    pub fn close_notify(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_select_and_exclude() {
        let p = ring_provider();
        let tls12: Vec<SupportedCipherSuite> = p
            .cipher_suites
            .iter()
            .copied()
            .filter(|c| c.version() == &rustls::version::TLS12)
            .collect();
        let map = |n: &str| {
            TLS12_NAMES
                .iter()
                .find(|(o, _)| *o == n)
                .map(|(_, r)| r.to_string())
        };
        let one = select_suites("ECDHE-RSA-AES256-GCM-SHA384", &tls12, map).unwrap();
        assert_eq!(one.len(), 1);
        let most = select_suites("DEFAULT:!ECDHE-RSA-AES256-GCM-SHA384", &tls12, map).unwrap();
        assert_eq!(most.len(), tls12.len() - 1);
        assert!(select_suites("RC4-MD5", &tls12, map).is_err());
    }
}
