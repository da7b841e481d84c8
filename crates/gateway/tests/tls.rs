//! TLS termination (`--ssl-certfile`, `--ssl-keyfile`) with a self-signed
//! certificate made here: HTTP/2 and HTTP/1.1 by ALPN, a plain-HTTP client
//! refused without harm, and a bad PEM named at start.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig, StartError};
use mcp_reconnect_testkit::TestUpstream;

struct Certificate {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn certificate(name: &str) -> Certificate {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("mcp-gateway-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let pem = made.cert.pem();
    std::fs::write(&cert, &pem).expect("written");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("written");
    Certificate { dir, cert, key, pem }
}

async fn start(args: &[&str]) -> Result<Gateway, StartError> {
    let mut argv = vec!["mcp-gateway", "--host", "127.0.0.1", "--port", "0"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    Gateway::start(GatewayConfig::from_args(&cli.serve, |_| None).expect("a config")).await
}

/// Starts a gateway serving HTTPS with `cert` and `key` in front of `upstream`.
async fn start_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
    upstream: &str,
) -> Result<Gateway, StartError> {
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    start(&[
        "--ssl-certfile",
        cert,
        "--ssl-keyfile",
        key,
        "streamablehttp",
        upstream,
    ])
    .await
}

/// A client that trusts `pem` only, offering `h2` by ALPN or HTTP/1.1 only.
fn client(
    pem: &str,
    h2: bool,
) -> Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("a certificate")).expect("a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only();
    let https = if h2 {
        https.enable_all_versions().build()
    } else {
        https.enable_http1().build()
    };
    Client::builder(TokioExecutor::new()).build(https)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_h2_and_http1_by_alpn_and_plain_http_is_refused() {
    let upstream = TestUpstream::start().await.expect("the upstream starts");
    let tls = certificate("ok");
    let gateway = start_tls(&tls.cert, &tls.key, &upstream.url())
        .await
        .expect("the gateway starts");
    let port = gateway.local_addr().port();
    let url = format!("https://localhost:{port}");
    for (h2, version) in [(true, Version::HTTP_2), (false, Version::HTTP_11)] {
        let client = client(&tls.pem, h2);
        let request = Request::post(format!("{url}/echo"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"text":"over TLS"}"#)))
            .expect("a request");
        let answer = client.request(request).await.expect("an HTTPS answer");
        assert_eq!((answer.status(), answer.version()), (StatusCode::OK, version));
        let body = answer.into_body().collect().await.expect("a body").to_bytes();
        assert_eq!(body, Bytes::from_static(b"\"over TLS\""));
    }
    // Plain HTTP to the TLS port: an error for that client, nothing for the gateway.
    let refused = tokio::spawn(async move {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let request = Request::get(format!("http://127.0.0.1:{port}/health")).body(Full::new(Bytes::new()));
        client.request(request.expect("a request")).await
    });
    let refused = refused.await.expect("the task");
    assert!(refused.is_err() || refused.is_ok_and(|answer| answer.status() != StatusCode::OK));
    let again = client(&tls.pem, true);
    let health = again
        .request(
            Request::get(format!("{url}/health"))
                .body(Full::new(Bytes::new()))
                .expect("a request"),
        )
        .await
        .expect("still served");
    assert_ne!(health.status(), StatusCode::FORBIDDEN);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_or_key_is_named_at_start() {
    let tls = certificate("bad");
    std::fs::write(&tls.cert, "not a certificate").expect("written");
    let error = start_tls(&tls.cert, &tls.key, "http://127.0.0.1:9/mcp")
        .await
        .map(|_| ())
        .expect_err("refused at start");
    let message = error.to_string();
    assert!(matches!(error, StartError::Config(_)), "{message}");
    assert!(
        message.contains("--ssl-certfile") && message.contains("cert.pem"),
        "{message}"
    );

    let other = certificate("mismatch");
    let good = certificate("good");
    let error = start_tls(&good.cert, &other.key, "http://127.0.0.1:9/mcp")
        .await
        .map(|_| ())
        .expect_err("refused at start");
    assert!(error.to_string().contains("--ssl-keyfile"), "{error}");
    // One without the other is a usage error.
    let cert = good.cert.to_str().expect("utf-8");
    assert!(Cli::try_parse_from(["mcp-gateway", "--ssl-certfile", cert, "http://127.0.0.1:9/mcp"]).is_err());
}
