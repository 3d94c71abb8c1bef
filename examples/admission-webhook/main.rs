//! A Kubernetes admission webhook that admits only images rsign's policies
//! allow.
//!
//! ```text
//! cargo run --release -p rsign-cli --example admission-webhook -- \
//!     --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --policy policies/
//! ```
//!
//! Serves `POST /validate` (and, with `--mutate`, `POST /mutate`, which
//! also pins tags to the verified digests) for `admission.k8s.io/v1`
//! `AdmissionReview`s of Pods, Deployments, ReplicaSets, StatefulSets,
//! DaemonSets, ReplicationControllers, Jobs and CronJobs, and `GET /healthz`.
//! SIGHUP (and `--reload-every`) reloads the policies and the TLS
//! certificate; SIGTERM drains and stops. See `examples/admission-webhook/README.md`.

mod review;
mod server;
mod tls;
mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rsign_policy::{Evaluator, EvaluatorOptions, NoMatch, PolicySet};
use rsign_registry::policy_source::{KeysetFileLoader, RegistrySource};
use rsign_registry::{RegistryClient, RegistryOptions};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::tls::ReloadableCert;
use crate::webhook::{DEFAULT_MAX_IMAGES, Webhook, WebhookOptions};

/// rsign admission webhook: admits Pods and workloads only when every
/// container image passes the rsign / policy-controller policies.
#[derive(Debug, Parser)]
#[command(name = "admission-webhook", version)]
struct Args {
    /// Address to serve HTTPS on (port 0 picks a free port; the address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Server certificate chain (PEM, leaf first).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// Server private key (PEM: PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// Policy files or directories (`ClusterImagePolicy`, `ImagePolicy`;
    /// YAML or JSON). Repeatable; reloaded on SIGHUP.
    #[arg(long = "policy", value_name = "FILE", required = true, num_args = 1..)]
    policies: Vec<PathBuf>,
    /// Also serve `POST /mutate`: admitted tag-only images are pinned to the
    /// verified digest with a JSON Patch.
    #[arg(long)]
    mutate: bool,
    /// What to do with images no policy matches.
    #[arg(long, value_enum, default_value_t = NoMatchArg::Deny)]
    no_match: NoMatchArg,
    /// Admit, with a warning, objects of kinds the webhook cannot read images
    /// from (by default they are denied: fail closed).
    #[arg(long)]
    allow_unknown_kinds: bool,
    /// Time budget of one image's evaluation (keep below the webhook's
    /// `timeoutSeconds`); an image not decided in time is denied.
    #[arg(long, value_name = "DURATION", default_value = "8s", value_parser = duration)]
    deadline: Duration,
    /// Budget of a whole HTTP request, body upload included.
    #[arg(long, value_name = "DURATION", default_value = "9s", value_parser = duration)]
    request_timeout: Duration,
    /// How long a successful verification is reused (`0s`: no cache).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    cache_ttl: Duration,
    /// Most verifications cached.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    cache_entries: usize,
    /// Most container images in one object.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_IMAGES)]
    max_images: usize,
    /// Reload the policies and the certificate this often as well as on
    /// SIGHUP (picks up ConfigMap and Secret updates, and edits of keyset
    /// files; keyset trust windows are checked at every evaluation).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    reload_every: Option<Duration>,
    /// Extra CA certificate (PEM) trusted for registries. Repeatable.
    #[arg(long, value_name = "FILE")]
    registry_ca: Vec<PathBuf>,
    /// Docker `config.json` with registry credentials (default:
    /// `$DOCKER_CONFIG/config.json`, then `~/.docker/config.json`).
    #[arg(long, value_name = "FILE")]
    docker_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NoMatchArg {
    Deny,
    Allow,
    Warn,
}

fn duration(s: &str) -> Result<Duration, String> {
    rsign_core::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("cannot load the policies")]
    Policies(#[source] rsign_policy::LoadError),
    #[error("cannot set up the registry client")]
    Registry(#[source] rsign_registry::Error),
    #[error("cannot load the TLS certificate")]
    Tls(#[source] tls::TlsError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install a signal handler")]
    Signal(#[source] std::io::Error),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

fn load_policies(paths: &[PathBuf]) -> Result<PolicySet, rsign_policy::LoadError> {
    PolicySet::load_with(paths, &KeysetFileLoader::load_options())
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RSIGN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&StartError::Runtime(e)),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut message = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        next = cause.source();
    }
    eprintln!("admission-webhook: error: {message}");
    ExitCode::FAILURE
}

async fn run(args: Args) -> Result<(), StartError> {
    let policies = load_policies(&args.policies).map_err(StartError::Policies)?;
    tracing::info!(
        policies = policies.policies().len(),
        hash = %policies.hash(),
        "policies loaded"
    );

    let mut registry_options = RegistryOptions::default();
    registry_options.ca_certs = args.registry_ca.clone();
    if let Some(config) = &args.docker_config {
        registry_options.docker_config =
            rsign_registry::docker_config::ConfigSource::File(config.clone());
    }
    let client = RegistryClient::new(registry_options).map_err(StartError::Registry)?;
    let source = Arc::new(RegistrySource::new(client));

    let mut options = EvaluatorOptions::default();
    options.deadline = args.deadline;
    options.cache_ttl = args.cache_ttl;
    options.cache_max_entries = args.cache_entries;
    options.no_match = match args.no_match {
        NoMatchArg::Deny => NoMatch::Deny,
        NoMatchArg::Allow => NoMatch::Allow,
        NoMatchArg::Warn => NoMatch::Warn,
    };
    let evaluator = Evaluator::new(policies, source, options);
    let webhook = Webhook::new(
        evaluator,
        WebhookOptions {
            allow_unknown_kinds: args.allow_unknown_kinds,
            max_images: args.max_images,
        },
    );

    let provider = tls::provider();
    let cert = Arc::new(
        ReloadableCert::load(&args.tls_cert, &args.tls_key, provider).map_err(StartError::Tls)?,
    );
    let tls_config = Arc::new(tls::server_config(Arc::clone(&cert)).map_err(StartError::Tls)?);

    let app = Arc::new(server::App {
        webhook: webhook.clone(),
        request_timeout: args.request_timeout,
    });
    let router = server::router(app, args.mutate);
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = server::bound(&listener).unwrap_or(args.listen);

    let mut hangup = signal(SignalKind::hangup()).map_err(StartError::Signal)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(StartError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(StartError::Signal)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let paths = args.policies.clone();
    let reload_every = args.reload_every;
    tokio::spawn(async move {
        let mut ticker = reload_every.map(|every| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let tick = async {
                match ticker.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = hangup.recv() => reload(&webhook, &paths, &cert),
                () = tick => reload(&webhook, &paths, &cert),
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        let _ = stop_tx.send(());
    });

    tracing::info!(%addr, mutate = args.mutate, "serving");
    println!("listening on {addr}");
    server::serve(listener, tls_config, router, async {
        let _ = stop_rx.await;
    })
    .await;
    Ok(())
}

/// Reloads the policies and the certificate; whatever fails to load is
/// reported and the version in force stays.
fn reload(webhook: &Webhook, paths: &[PathBuf], cert: &ReloadableCert) {
    match load_policies(paths) {
        Ok(set) => {
            tracing::info!(policies = set.policies().len(), hash = %set.hash(), "policies reloaded");
            webhook.evaluator().reload(set);
        }
        Err(e) => {
            tracing::error!(error = %chain(&e), "policy reload failed; keeping the policies in force")
        }
    }
    match cert.reload() {
        Ok(()) => tracing::info!("TLS certificate reloaded"),
        Err(e) => tracing::error!(
            error = %chain(&e),
            "TLS certificate reload failed; keeping the certificate in force"
        ),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        next = cause.source();
    }
    message
}

/// The shipped `deploy/` files agree with the code.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod deploy_tests {
    use std::path::Path;

    use rsign_core::keys::PrivateKey;
    use rsign_policy::{Format, LoadOptions, PolicySet};

    use crate::review::POD_SPEC_AT;

    fn deploy(file: &str) -> String {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/admission-webhook/deploy");
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    /// Every policy in the ConfigMap loads once the placeholder key is
    /// replaced by a real one.
    #[test]
    fn configmap_policies_load() {
        let text = deploy("policies.yaml");
        let pem = PrivateKey::generate_p256().unwrap().public_key().to_pem();
        let key_body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n              ");
        let text = text.replace("REPLACE-WITH-YOUR-COSIGN-PUBLIC-KEY", &key_body);
        // Each `name.yaml: |` entry of `data:` is a block indented by 4.
        let mut entries: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.strip_suffix(".yaml: |"))
            {
                entries.push((name.to_owned(), String::new()));
            } else if let (Some((_, body)), Some(inner)) =
                (entries.last_mut(), line.strip_prefix("    "))
            {
                body.push_str(inner);
                body.push('\n');
            }
        }
        assert_eq!(entries.len(), 2, "{entries:?}");
        for (name, body) in &entries {
            let set = PolicySet::parse(
                body,
                Format::Yaml,
                name.as_ref(),
                None,
                &LoadOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(set.policies().len(), 1);
            assert_eq!(set.policies()[0].name(), name);
        }
    }

    /// The webhook configurations route every kind the code reads, to the
    /// right path, failing closed.
    #[test]
    fn webhook_rules_cover_the_kinds_read() {
        for (file, path) in [
            ("validating-webhook.yaml", "/validate"),
            ("mutating-webhook.yaml", "/mutate"),
        ] {
            let text = deploy(file);
            for (_, kind, _) in POD_SPEC_AT {
                let resource = format!("\"{}s\"", kind.to_ascii_lowercase());
                assert!(text.contains(&resource), "{file} lacks {resource}");
            }
            assert!(text.contains(&format!("path: {path}")), "{file}");
            assert!(text.contains("failurePolicy: Fail"), "{file}");
            assert!(text.contains("timeoutSeconds: 10"), "{file}");
            assert!(text.contains("sideEffects: None"), "{file}");
            assert!(text.contains("admissionReviewVersions: [\"v1\"]"), "{file}");
            assert!(
                text.contains("values: [\"kube-system\", \"rsign-system\"]"),
                "{file}"
            );
        }
        let deployment = deploy("deployment.yaml");
        for needle in [
            "runAsNonRoot: true",
            "readOnlyRootFilesystem: true",
            "secretName: rsign-webhook-tls",
            "name: rsign-policies",
            "--policy=/etc/rsign/policies",
        ] {
            assert!(
                deployment.contains(needle),
                "deployment.yaml lacks {needle}"
            );
        }
        assert!(deploy("service.yaml").contains("port: 443"));
    }
}
