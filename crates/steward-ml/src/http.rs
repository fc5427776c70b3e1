//! The one way this crate builds HTTP clients (hub downloads, OpenAI-compatible
//! servers): rustls with the `ring` provider, installed once per process.

/// A reqwest client builder with TLS ready to use.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    // Installing twice returns Err with the already-installed provider: harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
