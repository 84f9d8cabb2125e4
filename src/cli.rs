//! The command line: `run`, `check-config`, `keygen`, `healthcheck` and `demo` (development only).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// octogate: single sign-on for October CMS backends.
///
/// An authenticating reverse proxy that signs users in with Okta (or any OpenID Provider) using
/// the authorization-code flow with PKCE, keeps the session in an encrypted cookie, and forwards
/// each request to the October site with a signed identity assertion for the octogate shim plugin.
#[derive(Debug, Parser)]
#[command(name = "octogate", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Config file to serve with (same as `octogate run --config FILE`).
    #[arg(long, short = 'c', value_name = "FILE", global = false)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve: proxy the site with sign-in, per the config file.
    Run {
        /// The site's TOML config file.
        #[arg(long, short = 'c', value_name = "FILE", env = "OCTOGATE_CONFIG")]
        config: PathBuf,
        /// Log as JSON lines (overrides `server.log_format`).
        #[arg(long)]
        json_logs: bool,
    },
    /// Load and validate a config file; print a summary with secrets masked. Exit 0 if valid,
    /// 2 with every problem listed otherwise.
    CheckConfig {
        /// The site's TOML config file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print a fresh cookie key (base64, 32 bytes) and a fresh Ed25519 signing key (PKCS#8 PEM)
    /// with its public key (base64, raw 32 bytes) for the shim.
    Keygen,
    /// Exit 0 if the URL answers 200 within the timeout, 1 otherwise (for container
    /// HEALTHCHECK without a shell or curl).
    Healthcheck {
        /// URL to probe (plain http).
        #[arg(long, default_value = "http://127.0.0.1:4180/healthz")]
        url: String,
        /// Timeout in seconds.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Development only: run octogate with a built-in OpenID Provider (three demo users) and a
    /// demo backend, all on loopback; prints the URL to open.
    Demo(crate::demo::DemoArgs),
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match (cli.command, cli.config) {
        (Some(c), _) => c,
        (None, Some(config)) => Command::Run {
            config,
            json_logs: false,
        },
        (None, None) => {
            eprintln!("octogate: give a config file (`octogate run --config FILE`) or a subcommand; see `octogate --help`");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Run { config, json_logs } => run(config, json_logs),
        Command::CheckConfig { file } => check_config(&file),
        Command::Keygen => keygen(),
        Command::Healthcheck { url, timeout } => healthcheck(&url, timeout),
        Command::Demo(args) => crate::demo::main(args),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match crate::config::load(file) {
        Ok(cfg) => {
            print!("{}", cfg.summary());
            println!("OK: {} is valid", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{} problem(s) in {}:", errors.0.len(), file.display());
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            ExitCode::from(2)
        }
    }
}

fn keygen() -> ExitCode {
    let k = crate::assertion::generate_keys();
    println!(
        "# Session cookie key (put in [session] cookie_keys, e.g. via env:OCTOGATE_COOKIE_KEY):"
    );
    println!("{}", k.cookie_key_b64);
    println!();
    println!("# Assertion signing key (PKCS#8 PEM; [assertion] signing_key = \"file:/path/to/this.pem\"):");
    print!("{}", k.signing_key_pem);
    if !k.signing_key_pem.ends_with('\n') {
        println!();
    }
    println!();
    println!(
        "# Public key for the October shim (OCTOGATE_PUBLIC_KEYS), kid {}:",
        k.kid
    );
    println!("{}", k.public_key_b64);
    ExitCode::SUCCESS
}

fn healthcheck(url: &str, timeout: u64) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(_) => return ExitCode::from(1),
    };
    let ok = rt.block_on(async {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return false;
        };
        let client = crate::http::client::build(std::time::Duration::from_secs(timeout));
        let Ok(req) = http::Request::get(uri).body(crate::http::empty()) else {
            return false;
        };
        match tokio::time::timeout(std::time::Duration::from_secs(timeout), client.request(req))
            .await
        {
            Ok(Ok(resp)) => resp.status() == http::StatusCode::OK,
            _ => false,
        }
    });
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("unhealthy: {url}");
        ExitCode::from(1)
    }
}

/// The tokio runtime: one worker per CPU this process may run on (its affinity, e.g. a container
/// CPU set), and the lighter single-threaded scheduler when that is one CPU — there a second
/// thread would only add cross-thread wake-ups.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cpus <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus)
            .enable_all()
            .build()
    }
}

fn run(config: PathBuf, json_logs: bool) -> ExitCode {
    let cfg = match crate::config::load(&config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("octogate: invalid config {}:", config.display());
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    let _log =
        crate::logging::init(json_logs || cfg.server.log_format == crate::config::LogFormat::Json);
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("octogate: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(crate::serve::serve(cfg, Some(config))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("octogate: {e}");
            ExitCode::from(1)
        }
    }
}
