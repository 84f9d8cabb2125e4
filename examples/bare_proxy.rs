//! The floor of the mandated stack: a hyper HTTP/1.1 server forwarding every request, untouched,
//! over pooled hyper HTTP/1.1 client connections. No security work at all (no header stripping,
//! no X-Forwarded-*, no logging, no timeouts). Used only by `bench/ab.sh` to show how much of
//! octogate's cost per request is the HTTP stack itself. Not a product; never deploy it.
//!
//! Usage: bare_proxy LISTEN_ADDR UPSTREAM_ADDR
use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type Pool = Rc<RefCell<Vec<SendRequest<Incoming>>>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(&listen).await.unwrap();
        let pool: Pool = Rc::new(RefCell::new(Vec::new()));
        let upstream: Rc<str> = upstream.into();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let pool = pool.clone();
            let upstream = upstream.clone();
            tokio::task::spawn_local(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let pool = pool.clone();
                    let upstream = upstream.clone();
                    async move { Ok::<_, Infallible>(forward(&pool, &upstream, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

async fn forward(
    pool: &Pool,
    upstream: &str,
    req: Request<Incoming>,
) -> Response<http_body_util::Either<Incoming, String>> {
    let mut sender = loop {
        let candidate = pool.borrow_mut().pop();
        match candidate {
            Some(s) if s.is_ready() => break s,
            Some(_) => continue,
            None => {
                let Ok(stream) = TcpStream::connect(upstream).await else {
                    return bad();
                };
                let _ = stream.set_nodelay(true);
                let Ok((s, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    return bad();
                };
                tokio::task::spawn_local(conn);
                break s;
            }
        }
    };
    match sender.send_request(req).await {
        Ok(resp) => {
            pool.borrow_mut().push(sender);
            resp.map(http_body_util::Either::Left)
        }
        Err(_) => bad(),
    }
}

fn bad() -> Response<http_body_util::Either<Incoming, String>> {
    let mut r = Response::new(http_body_util::Either::Right(String::from("bad gateway\n")));
    *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
    r
}
