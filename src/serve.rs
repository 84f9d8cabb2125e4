//! Process orchestration for `octogate run`: build the app, bind the listeners, handle signals
//! (SIGTERM/SIGINT: graceful shutdown; SIGHUP: reload) and watch TLS files for changes.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::config::Config;
use crate::server::{Limits, Server};

/// Runs octogate until SIGTERM/SIGINT. `config_path` enables reloads on SIGHUP.
pub async fn serve(cfg: Config, config_path: Option<PathBuf>) -> Result<(), String> {
    serve_with(cfg, config_path, None).await
}

/// [`serve`], telling `ready` the bound address once the listener is up and the app is built
/// (used by `octogate demo`).
pub async fn serve_with(
    cfg: Config,
    config_path: Option<PathBuf>,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), String> {
    let limits = Limits {
        header_read_timeout: cfg.server.header_read_timeout,
        max_header_bytes: cfg.server.max_header_bytes,
        max_connections: cfg.server.max_connections,
        max_connections_per_client: cfg.server.max_connections_per_client,
        shutdown_grace: cfg.server.shutdown_grace,
        send_timeout: cfg.server.send_timeout,
    };
    let server = Server::bind(cfg.server.listen, cfg.server.tls.as_ref(), limits)
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let metrics_listen = cfg.server.metrics_listen;
    tracing::info!(
        listen = %addr,
        public_url = %cfg.server.public_url,
        upstream = %cfg.upstream.url,
        issuer = %cfg.oidc.issuer,
        tls = cfg.server.tls.is_some(),
        "octogate {} listening", env!("CARGO_PKG_VERSION")
    );
    let app = App::new(cfg)?;
    if let Some(m) = metrics_listen {
        crate::app::metrics_server::spawn(m, app.clone()).await?;
    }
    let (tx, rx) = watch::channel(false);
    if let Some(path) = config_path {
        tokio::spawn(reload_on_sighup(app.clone(), path, server.tls()));
    }
    if let Some(tls) = server.tls() {
        tokio::spawn(watch_tls(tls));
    }
    let serving = tokio::spawn(server.serve(app, rx));
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    crate::server::termination_signal().await;
    let _ = tx.send(true);
    let _ = serving.await;
    tracing::info!("octogate stopped");
    Ok(())
}

async fn reload_on_sighup(app: Arc<App>, path: PathBuf, tls: Option<crate::server::tls::TlsState>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            reload(&app, &path, tls.as_ref());
        }
    }
}

/// Re-reads the config (and certificates) and applies it atomically if valid.
pub fn reload(app: &App, path: &std::path::Path, tls: Option<&crate::server::tls::TlsState>) {
    let audit = app.audit_handle();
    let actx = crate::app::audit::Context::default();
    match crate::config::load(path) {
        Ok(cfg) => {
            let old = &app.runtime().cfg.server;
            let needs_restart = [
                ("server.listen", cfg.server.listen != old.listen),
                (
                    "server.max_connections",
                    cfg.server.max_connections != old.max_connections,
                ),
                (
                    "server.max_connections_per_client",
                    cfg.server.max_connections_per_client != old.max_connections_per_client,
                ),
                (
                    "server.send_timeout",
                    cfg.server.send_timeout != old.send_timeout,
                ),
            ];
            for (key, changed) in needs_restart {
                if changed {
                    tracing::warn!(
                        key,
                        "{key} changed: a restart is needed for that key; the rest is applied"
                    );
                }
            }
            match app.reload(cfg) {
                Ok(gen) => {
                    if let Some(t) = tls {
                        if let Err(e) = t.reload() {
                            tracing::warn!(reason = %e, "TLS certificate reload failed; keeping the old certificate");
                        }
                    }
                    tracing::info!(generation = gen, "config reloaded");
                    audit.log(crate::app::audit::Event::ConfigReloaded, &actx, "ok");
                }
                Err(e) => {
                    tracing::error!(reason = %e, "config reload failed; keeping the running config");
                    audit.log(
                        crate::app::audit::Event::ConfigReloaded,
                        &actx,
                        &format!("refused: {e}"),
                    );
                }
            }
        }
        Err(errors) => {
            for e in &errors.0 {
                tracing::error!(problem = %e, "config reload refused; keeping the running config");
            }
            audit.log(
                crate::app::audit::Event::ConfigReloaded,
                &actx,
                &format!("refused: {} problem(s)", errors.0.len()),
            );
        }
    }
}

/// Polls the certificate and key files; a change loads the new certificate for new connections.
async fn watch_tls(tls: crate::server::tls::TlsState) {
    let stamp = |t: &crate::server::tls::TlsState| {
        let f = t.files();
        let m = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (m(&f.cert), m(&f.key))
    };
    let mut last = stamp(&tls);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = stamp(&tls);
        if now != last {
            last = now;
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate changed on disk and was reloaded"),
                Err(e) => {
                    tracing::warn!(reason = %e, "TLS files changed but could not be loaded; keeping the old certificate")
                }
            }
        }
    }
}
