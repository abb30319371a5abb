//! A TLS client for local services. Local dev servers use self-signed certificates, so the
//! certificate is recorded, not judged: the handshake still checks signatures, but any
//! chain is accepted. Callers that need trust decisions look at the recorded certificate.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};

use crate::deadline::Bounded;

/// Accepts every certificate chain; signatures over the handshake are still verified.
#[derive(Debug)]
struct RecordOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for RecordOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A client configuration that offers `alpn` and accepts any certificate.
/// `note` is told when the server asks for a client certificate.
fn client_config_noting(
    alpn: &[&[u8]],
    note: Arc<NoteCertRequest>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let mut cfg = ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordOnly(algs)))
        .with_client_cert_resolver(note);
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// Has no client certificate to give, and notes whether the server asked for one (a
/// CertificateRequest: mutual TLS) and which CAs it named.
#[derive(Debug, Default)]
pub(crate) struct NoteCertRequest {
    asked: Mutex<Option<Vec<String>>>,
}

impl NoteCertRequest {
    /// The CA names the server listed when it asked for a certificate; `None` when it
    /// did not ask.
    pub(crate) fn asked(&self) -> Option<Vec<String>> {
        self.asked.lock().ok()?.clone()
    }
}

impl rustls::client::ResolvesClientCert for NoteCertRequest {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        use x509_parser::prelude::FromDer as _;
        let names = root_hint_subjects
            .iter()
            .map(|der| {
                // As sent (a whole Name), else with an outer SEQUENCE put around it.
                let mut full = vec![0x30];
                push_der_len(&mut full, der.len());
                full.extend_from_slice(der);
                [*der, &full[..]]
                    .iter()
                    .find_map(|bytes| {
                        let (_, n) = x509_parser::x509::X509Name::from_der(bytes).ok()?;
                        Some(n.to_string()).filter(|t| !t.is_empty())
                    })
                    .unwrap_or_else(|| "(a name lport cannot read)".to_owned())
            })
            .collect();
        if let Ok(mut asked) = self.asked.lock() {
            *asked = Some(names);
        }
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Appends a DER length.
fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A TLS stream over a connected TCP stream with a deadline.
pub(crate) type TlsStream = StreamOwned<ClientConnection, Bounded>;

/// Starts TLS on `tcp`, naming `host` (SNI for names, none for addresses), and completes
/// the handshake. The stream's deadline bounds the whole handshake, however slowly the
/// peer sends its records.
pub(crate) fn connect(tcp: Bounded, host: &str, alpn: &[&[u8]]) -> std::io::Result<TlsStream> {
    connect_noting(tcp, host, alpn, Arc::new(NoteCertRequest::default()))
}

/// As [`connect`], with `note` told whether the server asked for a client certificate
/// (also when the handshake then fails for want of one).
pub(crate) fn connect_noting(
    tcp: Bounded,
    host: &str,
    alpn: &[&[u8]],
    note: Arc<NoteCertRequest>,
) -> std::io::Result<TlsStream> {
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
    };
    let cfg = client_config_noting(alpn, note).map_err(std::io::Error::other)?;
    let conn = ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    // Drive the handshake now so a plain-text peer fails here, not on the first read.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Anything a request can be written to and a reply read from.
pub(crate) trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// The CAs this machine trusts (`sys::trust_roots`), read once, and where from.
fn roots() -> Option<&'static (RootCertStore, String)> {
    static ROOTS: OnceLock<Option<(RootCertStore, String)>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = crate::sys::trust_roots();
            let mut store = RootCertStore::empty();
            for pem in &found.pem {
                store.add_parsable_certificates(
                    CertificateDer::pem_slice_iter(pem).filter_map(Result::ok),
                );
            }
            store.add_parsable_certificates(found.der.into_iter().map(CertificateDer::from));
            (!store.is_empty()).then(|| {
                let n = store.len();
                (store, format!("{} ({n} CAs)", found.from.join(", ")))
            })
        })
        .as_ref()
}

/// Whether `chain` (the server's certificate, then what it sent along) leads to a CA this
/// machine trusts, with where those CAs were read; `None` when none could be read. Only
/// the issuer is judged: the chain is checked at a time inside the certificate's validity,
/// and names are not checked, as `tls-certificate` reports those itself.
pub(crate) fn chain_trusted(chain: &[CertificateDer<'_>]) -> Option<(bool, String)> {
    let (store, from) = roots()?;
    let (end, intermediates) = chain.split_first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(end.as_ref()).ok()?;
    let validity = cert.validity();
    let (start, stop) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    let within = u64::try_from(start / 2 + stop / 2).ok()?;
    let parsed = rustls::server::ParsedCertificate::try_from(end).ok()?;
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let verdict = rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        store,
        intermediates,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(within)),
        algs.all,
    );
    Some((verdict.is_ok(), from.clone()))
}
