//! A tiny local HTTP/1 server for the OIDC unit tests (no network beyond 127.0.0.1).
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

/// A canned reply.
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    chunked: bool,
    delay: Option<Duration>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            chunked: false,
            delay: None,
        }
    }
    pub fn json(value: serde_json::Value) -> Self {
        Reply::status(200)
            .header("content-type", "application/json")
            .body(value.to_string())
    }
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
    pub fn chunked(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self.chunked = true;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

struct Chunks(VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = crate::http::BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

type Handler = Arc<dyn Fn(&http::Request<Bytes>) -> Reply + Send + Sync>;

pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start<F>(handler: F) -> TestServer
    where
        F: Fn(&http::Request<Bytes>) -> Reply + Send + Sync + 'static,
    {
        Self::start_on("127.0.0.1:0".parse().unwrap(), handler).await
    }

    pub async fn start_on<F>(addr: SocketAddr, handler: F) -> TestServer
    where
        F: Fn(&http::Request<Bytes>) -> Reply + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Handler = Arc::new(handler);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let handler = handler.clone();
                            let recorded = recorded.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                let req = http::Request::from_parts(parts, body);
                                recorded.lock().unwrap().push(Recorded {
                                    path: req.uri().path().to_string(),
                                    headers: req.headers().clone(),
                                    body: req.body().clone(),
                                });
                                let reply = handler(&req);
                                if let Some(d) = reply.delay {
                                    tokio::time::sleep(d).await;
                                }
                                let body: crate::http::Body = if reply.chunked {
                                    let mid = reply.body.len() / 2;
                                    Chunks(VecDeque::from([
                                        reply.body.slice(..mid),
                                        reply.body.slice(mid..),
                                    ]))
                                    .boxed()
                                } else {
                                    crate::http::full(reply.body)
                                };
                                let mut resp = http::Response::builder().status(reply.status);
                                for (n, v) in &reply.headers {
                                    resp = resp.header(n, v);
                                }
                                Ok::<_, std::convert::Infallible>(resp.body(body).unwrap())
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestServer {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    #[allow(dead_code)]
    pub fn hit_counts(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.requests() {
            *m.entry(r.path).or_insert(0) += 1;
        }
        m
    }
}
