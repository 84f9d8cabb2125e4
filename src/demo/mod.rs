//! `octogate demo`: octogate end to end on one machine, for development only.
//!
//! Starts, on loopback only: a development OpenID Provider ([`idp`]) with three demo users,
//! octogate itself through the normal [`crate::serve`] path with a built-in config ([`config`])
//! and fresh keys, and a small demo backend ([`upstream`]) that verifies the identity assertion
//! as the October shim does. Ctrl-C stops all three.
//!
//! Production code never depends on this module; only the CLI dispatches to it.
pub mod config;
pub mod idp;
pub mod upstream;
pub mod web;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use config::DemoConfig;

/// Options of `octogate demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where octogate listens (loopback only); its public URL is http:// this address.
    #[arg(long, default_value = "127.0.0.1:4180", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Port of the development IdP on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 4181, value_name = "PORT")]
    pub idp_port: u16,
    /// Full listen address of the development IdP (overrides --idp-port; loopback only).
    #[arg(long, value_name = "ADDR", conflicts_with = "idp_port")]
    pub idp_listen: Option<SocketAddr>,
    /// Port of the built-in demo backend on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 4182, value_name = "PORT")]
    pub upstream_port: u16,
    /// Use this October site instead of the built-in demo backend (e.g. http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Print the demo config (with fresh throwaway keys) and exit: a starting point for a real one.
    #[arg(long)]
    pub print_config: bool,
}

impl DemoArgs {
    fn idp_addr(&self) -> SocketAddr {
        self.idp_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.idp_port)))
    }

    fn upstream_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.upstream_port))
    }
}

fn random_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn demo_config(listen: SocketAddr, upstream_url: String, issuer: String) -> DemoConfig {
    let keys = crate::assertion::generate_keys();
    DemoConfig {
        listen,
        upstream_url,
        issuer,
        client_secret: random_secret(),
        cookie_key_b64: keys.cookie_key_b64,
        signing_key_pem: keys.signing_key_pem,
    }
}

/// Entry point of `octogate demo`.
pub fn main(args: DemoArgs) -> ExitCode {
    if args.print_config {
        let upstream = args
            .upstream
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.upstream_addr()));
        let d = demo_config(args.listen, upstream, format!("http://{}", args.idp_addr()));
        print!("{}", d.render());
        return ExitCode::SUCCESS;
    }
    // Refuse non-loopback addresses before starting anything (each server checks again).
    for (what, addr) in [
        ("octogate (--listen)", args.listen),
        ("demo IdP", args.idp_addr()),
        ("demo upstream", args.upstream_addr()),
    ] {
        if !addr.ip().is_loopback() {
            eprintln!(
                "octogate demo: {what}: refusing to listen on {addr}: the demo is for development only and binds loopback addresses only (127.0.0.1 or [::1])"
            );
            return ExitCode::from(2);
        }
    }
    let _log = crate::logging::init(false);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("octogate demo: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("octogate demo: {e}");
            ExitCode::from(1)
        }
    }
}

/// A free loopback port for octogate when `--listen` asks for port 0 (octogate's public URL,
/// and so the IdP's registered redirect URI, must name the port before octogate binds it).
fn resolve_port(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot find a free port on {addr}: {e}"))?;
    l.local_addr().map_err(|e| e.to_string())
}

async fn run(args: DemoArgs) -> Result<(), String> {
    let listen = resolve_port(args.listen)?;
    let public_url = format!("http://{listen}");
    let client = idp::Client {
        client_id: config::CLIENT_ID.to_string(),
        client_secret: random_secret(),
        redirect_uri: format!("{public_url}/oauth2/callback"),
        post_logout_redirect_uri: format!("{public_url}/"),
    };
    let secret = client.client_secret.clone();
    let (_idp, idp_addr) = idp::start(args.idp_addr(), move |bound| {
        idp::Idp::new(format!("http://{bound}"), client)
    })
    .await?;
    let issuer = format!("http://{idp_addr}");
    let (backend_listener, upstream_url) = match &args.upstream {
        Some(u) => (None, u.clone()),
        None => {
            let (l, a) = upstream::bind(args.upstream_addr()).await?;
            (Some(l), format!("http://{a}"))
        }
    };
    let mut d = demo_config(listen, upstream_url.clone(), issuer.clone());
    d.client_secret = secret;
    let cfg = crate::config::load_str(&d.render(), "octogate demo (built-in config)")
        .map_err(|e| format!("the built-in demo config is invalid (a bug):\n{e}"))?;
    let public_key = cfg.assertion.signing_key.verifying_key();
    if let Some(l) = backend_listener {
        upstream::serve(
            l,
            upstream::Backend::new(
                public_key,
                cfg.server.public_origin(),
                cfg.assertion.audience.clone(),
            ),
        );
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let serving = tokio::spawn(crate::serve::serve_with(cfg, None, Some(tx)));
    let bound = match rx.await {
        Ok(a) => a,
        // The sender was dropped: serve failed before binding; report its error.
        Err(_) => {
            return match serving.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Ok(()),
                Err(e) => Err(format!("octogate stopped: {e}")),
            }
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "octogate demo: DEVELOPMENT ONLY (built-in identity provider, fixed users, throwaway keys; loopback only)");
    let _ = writeln!(out);
    let _ = writeln!(out, "  Open:      {public_url}/backend");
    let _ = writeln!(out, "  Sign in as one of:");
    for u in &idp::USERS {
        let _ = writeln!(
            out,
            "    {:<7} {} <{}>: {}",
            u.login, u.name, u.email, u.outcome
        );
    }
    let _ = writeln!(
        out,
        "  IdP:       {issuer}  (client_id {})",
        config::CLIENT_ID
    );
    match &args.upstream {
        Some(u) => {
            let _ = writeln!(
                out,
                "  Upstream:  {u} (your October site). Configure its octogate shim with:"
            );
            let _ = writeln!(
                out,
                "    public key (OCTOGATE_PUBLIC_KEYS): {}",
                crate::assertion::public_key_b64(&public_key)
            );
            let _ = writeln!(
                out,
                "    kid {}, issuer {public_url}, audience {}",
                crate::assertion::kid_for(&public_key),
                config::AUDIENCE
            );
        }
        None => {
            let _ = writeln!(out, "  Upstream:  {upstream_url} (built-in demo backend)");
        }
    }
    let _ = writeln!(
        out,
        "  Config:    `octogate demo --print-config` prints this setup as a starting point."
    );
    let _ = writeln!(out, "  Ctrl-C stops everything.");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "demo ready: octogate=http://{bound} idp={issuer} upstream={upstream_url}"
    );
    let _ = out.flush();
    drop(out);
    match serving.await {
        Ok(r) => r,
        Err(e) => Err(format!("octogate stopped: {e}")),
    }
}
