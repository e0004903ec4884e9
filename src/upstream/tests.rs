//! The client against real local upstreams: hyper servers (HTTP/1.1, h2,
//! TLS) and raw sockets for the framings and faults hyper would not send.

use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::*;
use http::header::HOST;

/// A test upstream answering `<version> <host header> <connection #>`,
/// over TLS offering `alpn` when `tls` is set.
struct Upstream {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicUsize>,
}

async fn upstream(tls: Option<(&rcgen::CertifiedKey, Vec<Vec<u8>>)>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let acceptor = tls.map(|(ck, alpn)| {
        let cert = ck.cert.der().clone();
        let key = rustls_pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        cfg.alpn_protocols = alpn;
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| async move {
                    let host = req
                        .headers()
                        .get(HOST)
                        .map(|h| h.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let mut text = format!("{:?} {host} {n} {}", req.version(), req.uri());
                    if req.uri().path() == "/big" {
                        // Far more than comes with the head.
                        text.push_str(&".".repeat(1 << 20));
                    }
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        Bytes::from(text),
                    )))
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(a) => {
                        let Ok(tls) = a.accept(tcp).await else { return };
                        let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    Upstream { addr, connections }
}

fn client(ca: Option<&rcgen::CertifiedKey>) -> UpstreamClient {
    let path = ca.map(|ck| {
        let path = std::env::temp_dir().join(format!(
            "tollgate-upstream-ca-{}-{}.pem",
            std::process::id(),
            ck.cert.pem().len()
        ));
        std::fs::write(&path, ck.cert.pem()).unwrap();
        path
    });
    UpstreamClient::new(&Timeouts::default(), path.as_deref()).unwrap()
}

async fn get(c: &UpstreamClient, url: &str) -> String {
    let req = Request::get(url).body(full(Bytes::new())).unwrap();
    let resp = c.send(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn cert() -> rcgen::CertifiedKey {
    rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap()
}

#[tokio::test]
async fn http1_connections_are_reused_and_carry_host_and_origin_form() {
    let up = upstream(None).await;
    let c = client(None);
    let url = format!("http://{}/a/b?c=d", up.addr);
    for _ in 0..5 {
        let got = get(&c, &url).await;
        assert_eq!(got, format!("HTTP/1.1 {} 1 /a/b?c=d", up.addr));
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tls_negotiates_h2_or_http1_by_alpn() {
    let ck = cert();
    let c = client(Some(&ck));
    let h2 = upstream(Some((&ck, vec![b"h2".to_vec(), b"http/1.1".to_vec()]))).await;
    let url = format!("https://localhost:{}/x", h2.addr.port());
    for _ in 0..3 {
        let got = get(&c, &url).await;
        assert!(got.starts_with("HTTP/2.0  1 https://localhost:"), "{got}");
    }
    assert_eq!(h2.connections.load(Ordering::SeqCst), 1);
    let h1 = upstream(Some((&ck, vec![b"http/1.1".to_vec()]))).await;
    let url = format!("https://localhost:{}/y", h1.addr.port());
    for _ in 0..3 {
        let got = get(&c, &url).await;
        assert_eq!(got, format!("HTTP/1.1 localhost:{} 1 /y", h1.addr.port()));
    }
    assert_eq!(h1.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_unavailable() {
    let ck = cert();
    let up = upstream(Some((&ck, vec![b"http/1.1".to_vec()]))).await;
    let c = client(None);
    let req = Request::get(format!("https://localhost:{}/", up.addr.port()))
        .body(full(Bytes::new()))
        .unwrap();
    match c.send(req).await {
        Err(UpstreamError::Unavailable(e)) => assert!(e.contains("tls"), "{e}"),
        other => panic!("{:?}", other.map(|r| r.status())),
    }
}

#[tokio::test]
async fn an_answer_dropped_unread_does_not_return_its_connection() {
    let up = upstream(None).await;
    let c = client(None);
    let big = format!("http://{}/big", up.addr);
    let req = Request::get(&big).body(full(Bytes::new())).unwrap();
    drop(c.send(req).await.unwrap());
    let got = get(&c, &format!("http://{}/", up.addr)).await;
    assert!(got.ends_with(" 2 /"), "{got}");
    // Read to its end, a long answer's connection is reused.
    assert_eq!(
        get(&c, &big).await.len(),
        format!("HTTP/1.1 {} 2 /big", up.addr).len() + (1 << 20)
    );
    let got = get(&c, &format!("http://{}/", up.addr)).await;
    assert!(got.ends_with(" 2 /"), "{got}");
    assert_eq!(up.connections.load(Ordering::SeqCst), 2);
}

/// An upstream that answers every request on a connection with the
/// next of `answers` (raw bytes), counting connections.
async fn raw_upstream(answers: Vec<&'static [u8]>) -> Upstream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let answers = Arc::new(answers);
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for answer in answers.iter() {
                    // Bodiless GETs: a request ends at its blank line.
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut b = [0u8; 1024];
                        match tcp.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&b[..n]),
                        }
                    }
                    let end = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                    seen.drain(..end + 4);
                    if tcp.write_all(answer).await.is_err() {
                        return;
                    }
                    if answer.ends_with(b"<close>") {
                        return;
                    }
                }
            });
        }
    });
    Upstream { addr, connections }
}

#[tokio::test]
async fn a_chunked_answer_is_decoded_and_its_connection_reused() {
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let up = raw_upstream(vec![chunked, chunked]).await;
    let c = client(None);
    let url = format!("http://{}/", up.addr);
    assert_eq!(get(&c, &url).await, "hello world");
    assert_eq!(get(&c, &url).await, "hello world");
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bytes_after_an_answer_or_a_close_delimited_answer_end_the_connection() {
    let stray: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none\
        HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale";
    let up = raw_upstream(vec![stray]).await;
    let c = client(None);
    let url = format!("http://{}/", up.addr);
    assert_eq!(get(&c, &url).await, "one");
    assert_eq!(
        get(&c, &url).await,
        "one",
        "the stale second answer was served"
    );
    assert_eq!(up.connections.load(Ordering::SeqCst), 2);

    let until_close: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nto the end<close>";
    let up = raw_upstream(vec![until_close]).await;
    assert_eq!(
        get(&c, &format!("http://{}/", up.addr)).await,
        "to the end<close>"
    );
    assert_eq!(
        get(&c, &format!("http://{}/", up.addr)).await,
        "to the end<close>"
    );
    assert_eq!(up.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_not_an_end() {
    let short: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nabc<close>";
    let up = raw_upstream(vec![short]).await;
    let c = client(None);
    let req = Request::get(format!("http://{}/", up.addr))
        .body(full(Bytes::new()))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert!(resp.into_body().collect().await.is_err());
    let chunked: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel<close>";
    let up = raw_upstream(vec![chunked]).await;
    let req = Request::get(format!("http://{}/", up.addr))
        .body(full(Bytes::new()))
        .unwrap();
    let resp = c.send(req).await.unwrap();
    assert!(resp.into_body().collect().await.is_err());
}
