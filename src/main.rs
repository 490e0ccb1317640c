//! zos-orchestrator: one binary that bootstraps and runs a Zero-OS cluster.
//!
//! `main` parses the command line, wires the modules together and owns the process lifecycle (signals, graceful
//! shutdown, the final flush). Nothing else calls it. See ARCHITECTURE.md for the code map.

mod api;
mod audit;
mod auth;
mod blocks;
mod boot;
mod config;
mod engine;
mod fd_limit;
mod healthcheck;
mod http_server;
mod instance;
mod mapped_file;
mod metrics;
mod model;
mod nbd;
mod offline;
mod sim;
mod store;
mod transfer;
mod web;
mod zerotier;
mod zos;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use clap::error::ErrorKind;

use config::{Cli, Command, LogFormat, ProxyDhcp, ServeConfig, StoreCommand, TftpListen, TokenCommand};
use store::{Store, StoreError};

/// Exit status for bad flags or settings (as clap uses), distinct from failures at run time (1).
const EXIT_USAGE: u8 = 2;
/// Exit status of `restore` for a backup it refuses (truncated, corrupt, from a newer version).
const EXIT_REFUSED_BACKUP: u8 = 3;
/// How long an API call that goes to a node may wait for it.
const NODE_DEADLINE: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            // clap's rendering ends with a usage hint; the first line alone names the setting and the problem.
            let rendered = err.render().to_string();
            eprintln!(
                "{}",
                rendered
                    .lines()
                    .find(|line| !line.trim().is_empty())
                    .unwrap_or("error: invalid usage")
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(args) => match ServeConfig::resolve(cli.config.as_deref(), *args) {
            Ok(config) => runtime.block_on(serve(config)),
            Err(err) => usage_error(err),
        },
        Command::Sim(args) => runtime.block_on(run_sim(args)),
        Command::Healthcheck(args) => healthcheck(cli.config.as_deref(), args),
        Command::Restore(args) => match config::resolve_restore(cli.config.as_deref(), args.data, args.store) {
            Ok((data_dir, store::Location::Sled)) => offline::restore(&args.file, &data_dir, args.force),
            Ok((_, store::Location::Etcd { .. })) if args.force => usage_error(config::ConfigError(
                "--force replaces a data directory; an etcd prefix is restored into only when empty".into(),
            )),
            Ok((_, store::Location::Etcd { access, prefix })) => {
                runtime.block_on(offline::restore_to_etcd(&args.file, access, prefix))
            }
            Err(err) => usage_error(err),
        },
        Command::Nbdserver(args) => runtime.block_on(nbd_server(cli.config, args)),
        Command::Store(StoreCommand::Copy {
            from,
            to,
            store_prefix,
            etcd,
        }) => match config::resolve_etcd_security(cli.config.as_deref(), etcd) {
            Ok(security) => runtime.block_on(offline::store_copy(&from, &to, &store_prefix, &security)),
            Err(err) => usage_error(err),
        },
        Command::Token(TokenCommand::Create { role, name, data }) => {
            match config::resolve_data_dir(cli.config.as_deref(), data) {
                Ok(data_dir) => runtime.block_on(token_create(&data_dir, &name, role)),
                Err(err) => usage_error(err),
            }
        }
    }
}

/// `healthcheck`: exit 0 when the server answers `/health`, else 1 — also for a bad setting, since container
/// engines reserve status 2 of a health check.
fn healthcheck(config_file: Option<&std::path::Path>, args: config::HealthcheckArgs) -> ExitCode {
    let listen = match config::resolve_listen(config_file, args) {
        Ok(listen) => listen,
        Err(err) => {
            eprintln!("unhealthy: {err}");
            return ExitCode::FAILURE;
        }
    };
    match healthcheck::check(listen) {
        Ok(status) => {
            println!("healthy: {status}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(err: config::ConfigError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(EXIT_USAGE)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config: ServeConfig) -> ExitCode {
    init_logging(config.log_format);
    let open_files = fd_limit::raise();
    tracing::debug!(?open_files, "open-files limit (a connection per node)");
    let started = Instant::now();
    // Whatever the store, the data directory holds this instance's own files (boot assets, its id, the
    // bootstrap token): made here, so a first start on etcd needs no mkdir either.
    if let Err(err) = std::fs::create_dir_all(&config.data_dir) {
        tracing::error!("cannot create the data directory {}: {err}", config.data_dir.display());
        return ExitCode::FAILURE;
    }
    let store = match Store::connect(&config.store, &config.data_dir).await {
        Ok(store) => store,
        Err(err) => {
            tracing::error!(
                "cannot open the state store ({:?}, data directory {}): {err}",
                config.store,
                config.data_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let audit = match audit::Audit::open(store.clone(), Some(config.audit)) {
        Ok(audit) => Arc::new(audit),
        Err(err) => {
            tracing::error!("cannot open the audit log: {err}");
            return ExitCode::FAILURE;
        }
    };
    match auth::bootstrap_admin(&store, &config.data_dir).await {
        Ok(Some(issued)) => {
            audit.record(token_created("system", &issued.token)).await;
            tracing::info!(path = %issued.path.display(), "bootstrap admin token written (mode 0600)")
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!("cannot create the bootstrap admin token: {err}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {}: {err}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().unwrap_or(config.listen);

    let metrics = Arc::new(metrics::Metrics::default());
    let firmware = |what: &str, loaded: std::io::Result<boot::file_set::FileSet>| {
        loaded.map_err(|err| tracing::error!("cannot read {what}: {err}")).ok()
    };
    let (Some(ipxe), Some(syslinux)) = (
        firmware(
            "the iPXE binaries from --ipxe-dir",
            boot::ipxe::load(config.ipxe_dir.as_deref()),
        ),
        firmware(
            "the ISOLINUX files from --syslinux-dir",
            boot::media::syslinux::load(config.syslinux_dir.as_deref()),
        ),
    ) else {
        return ExitCode::FAILURE;
    };
    let boot = match boot::Boot::new(
        store.clone(),
        ipxe,
        syslinux,
        &config.data_dir,
        address.port(),
        config.boot_url.clone(),
        metrics.clone(),
    ) {
        Ok(boot) => boot,
        Err(err) => {
            tracing::error!("cannot start the boot server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let tftp_address = match config.tftp_listen {
        TftpListen::Off => None,
        TftpListen::On(tftp_listen) => match boot::tftp::bind(boot.clone(), tftp_listen) {
            Ok(tftp_address) => Some(tftp_address),
            Err(err) => {
                tracing::error!(
                    "cannot listen for TFTP on {tftp_listen}: {err} (ports below 1024 need root or \
                     CAP_NET_BIND_SERVICE; use --tftp-listen with another port, or off)"
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let proxy_dhcp = match &config.proxy_dhcp {
        ProxyDhcp::Off => None,
        ProxyDhcp::On(interface) => match boot::proxy_dhcp::bind(boot.clone(), interface) {
            Ok((address, serve_proxy)) => {
                tokio::spawn(serve_proxy);
                Some(format!("{interface} ({address})"))
            }
            Err(err) => {
                tracing::error!(
                    "cannot run proxyDHCP on {interface} (--proxy-dhcp): {err} (ports 67 and 4011 and binding to an \
                     interface need root or CAP_NET_BIND_SERVICE and CAP_NET_RAW)"
                );
                return ExitCode::FAILURE;
            }
        },
    };

    let zerotier_api = match &config.zerotier {
        Some(zt) => match zerotier::MemberApi::new(zt.kind, &zt.api, &zt.token, NODE_DEADLINE) {
            Ok(api) => Some(Arc::new(api)),
            Err(err) => {
                tracing::error!("cannot set up the ZeroTier client: {err}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let instance = match instance::identity(&config.data_dir) {
        Ok(instance) => instance,
        Err(err) => {
            tracing::error!(
                "cannot read or write {} in the data directory: {err}",
                instance::INSTANCE_FILE
            );
            return ExitCode::FAILURE;
        }
    };
    let election = store.elect(&instance, config.leader_lease);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(api::Context {
        engine: election.subscribe(),
        zerotier: zerotier_api.is_some(),
        store: store.clone(),
        metrics,
        boot,
        zos: Arc::new(zos::Clients::new(NODE_DEADLINE)),
        tftp: tftp_address,
        apply_wait: config.apply_wait,
        heartbeat_interval: config.heartbeat_interval,
        proxy_dhcp: proxy_dhcp.clone(),
        audit,
        started,
        shutdown: shutdown_rx,
        node_list: Default::default(),
    });
    if let Err(err) = register_static_nodes(&store, &config.static_nodes).await {
        tracing::error!("cannot register the nodes of the config file: {err}");
        return ExitCode::FAILURE;
    }
    if let Some(network) = &config.zerotier_network
        && let Err(err) = engine::registry::set_cluster_network(&store, network).await
    {
        tracing::error!("cannot apply --zerotier-network: {err}");
        return ExitCode::FAILURE;
    }
    if config.demo > 0 {
        match start_demo(&store, config.demo).await {
            Ok(()) => tracing::info!(
                nodes = config.demo,
                "demo: emulated Zero-OS nodes running and registered"
            ),
            Err(err) => {
                tracing::error!("cannot start the demo nodes: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let discovery = match (zerotier_api, &config.zerotier) {
        (Some(api), Some(zt)) => {
            tracing::info!(api = %zt.api, kind = ?zt.kind, policy = ?zt.authorize, "ZeroTier discovery on");
            Some(engine::discovery::Discovery {
                store: store.clone(),
                controller: api,
                clients: ctx.zos.clone(),
                policy: zt.authorize,
                allow: zt.allow.clone(),
                node_port: config.node_port,
                interval: config.heartbeat_interval,
            })
        }
        _ => None,
    };
    let engine = engine::leader::Engine {
        store: store.clone(),
        clients: ctx.zos.clone(),
        heartbeat: engine::heartbeat::Heartbeat {
            store: store.clone(),
            clients: ctx.zos.clone(),
            metrics: ctx.metrics.clone(),
            interval: config.heartbeat_interval,
            thresholds: config.health,
            health_interval: config.health_interval,
        },
        storage_health: engine::storage_clusters::Monitor {
            store: store.clone(),
            interval: config.heartbeat_interval,
        },
        webhooks: config.webhooks,
        discovery,
    };
    if let Err(err) = engine::webhooks::begin(&store).await {
        tracing::error!("cannot set where the webhooks' events begin: {err}");
        return ExitCode::FAILURE;
    }
    let engine = tokio::spawn(engine.lead(election, ctx.shutdown.clone()));
    let mut stopping = ctx.shutdown.clone();
    let server = http_server::serve(listener, warp::service(api::routes(ctx)), config.http, async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(server);
    let url = format!("http://{address}/");
    let token_file = config.data_dir.join(auth::ADMIN_TOKEN_FILE);
    tracing::info!(
        url = %url,
        data_dir = %config.data_dir.display(),
        instance = %instance,
        store = store.backend_name(),
        admin_token_file = %token_file.display(),
        tftp = %tftp_address.map_or("off".to_owned(), |a| a.to_string()),
        proxy_dhcp = %proxy_dhcp.as_deref().unwrap_or("off"),
        version = env!("CARGO_PKG_VERSION"),
        "zos-orchestrator listening on {url} (admin token file: {})",
        token_file.display()
    );

    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
        tracing::warn!("requests still open after {SHUTDOWN_GRACE:?}; closing them");
    }
    // The engine stops and, on etcd, hands its leadership over before the store's last flush.
    if tokio::time::timeout(SHUTDOWN_GRACE, engine).await.is_err() {
        tracing::warn!("the engine did not stop within {SHUTDOWN_GRACE:?}");
    }
    if let Err(err) = store.flush().await {
        tracing::error!("final flush of the state store failed: {err}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(err) => {
            tracing::warn!("cannot watch SIGTERM ({err}); only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Nodes listed in the config file: created when missing; for existing ones the file owns only the address
/// (labels and host name stay as the API last set them).
async fn register_static_nodes(store: &Store, nodes: &[config::StaticNode]) -> Result<(), String> {
    for node in nodes {
        let wanted = engine::registry::new_node(
            node.id.clone(),
            node.hostname.clone(),
            node.address.clone(),
            node.labels.clone(),
            false,
        );
        engine::registry::register_node(store, wanted, |existing, wanted| {
            (existing.address != wanted.address).then(|| model::Node {
                address: wanted.address,
                updated_at: wanted.updated_at,
                ..existing.clone()
            })
        })
        .await?;
    }
    Ok(())
}

/// `--demo N`: N emulated nodes in this process, registered as nodes (their addresses refreshed on every start,
/// since their ports are new). A real node that happens to have a demo node's id is left alone.
async fn start_demo(store: &Store, count: u32) -> Result<(), String> {
    for index in 0..count {
        let node = sim::start(
            "127.0.0.1:0".parse().expect("a literal address"),
            u64::from(index) + 1,
            None,
        )
        .await
        .map_err(|err| format!("emulated node {index}: {err}"))?;
        let labels = [("demo".to_owned(), "true".to_owned())].into();
        let wanted = engine::registry::new_node(
            node.inventory.node_id(),
            node.inventory.hostname.clone(),
            node.address.to_string(),
            labels,
            true,
        );
        engine::registry::register_node(store, wanted, |existing, wanted| {
            if !existing.emulated {
                tracing::warn!(node = %existing.id, "demo: a real node has this id; not replacing it");
                return None;
            }
            Some(model::Node {
                created_at: existing.created_at.clone(),
                ..wanted
            })
        })
        .await?;
    }
    Ok(())
}

/// `sim`: emulated nodes until SIGINT/SIGTERM.
/// `nbdserver`: the vdisks of the orchestrator at `--api` (token in `ZOS_TOKEN`), or of the `--config` file.
async fn nbd_server(config_file: Option<std::path::PathBuf>, args: config::NbdServerArgs) -> ExitCode {
    init_logging(LogFormat::Text);
    let source = match (&args.api, config_file) {
        (Some(base), _) => {
            let Ok(token) = std::env::var("ZOS_TOKEN") else {
                eprintln!("error: --api needs the orchestrator's API token in ZOS_TOKEN");
                return ExitCode::from(EXIT_USAGE);
            };
            let http = reqwest::Client::builder().timeout(NODE_DEADLINE).build();
            let Ok(http) = http else {
                eprintln!("error: cannot make an HTTP client");
                return ExitCode::FAILURE;
            };
            nbd::Source::Api {
                base: base.trim_end_matches('/').to_owned(),
                token,
                http,
            }
        }
        (None, Some(file)) => nbd::Source::File(file),
        (None, None) => {
            eprintln!("error: nbdserver needs --api URL or --config FILE to find its vdisks");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match nbd::run(args, nbd::Exports::new(source)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: NBD server: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run_sim(args: config::SimArgs) -> ExitCode {
    init_logging(LogFormat::Text);
    // A listener and the orchestrator's connection per node, and a margin for the runtime and stdio.
    let needed = 2 * u64::from(args.nodes) + 64;
    if let Some(limit) = fd_limit::raise().filter(|limit| *limit < needed) {
        eprintln!(
            "error: --nodes {} needs about {needed} open files, and this process may open {limit} \
             (ulimit -n): raise the limit, or split the nodes over several sim processes",
            args.nodes
        );
        return ExitCode::from(EXIT_USAGE);
    }
    for index in 0..args.nodes {
        let mut listen = args.listen;
        if listen.port() != 0 {
            match listen
                .port()
                .checked_add(index as u16)
                .filter(|_| index <= u32::from(u16::MAX))
            {
                Some(port) => listen.set_port(port),
                None => {
                    eprintln!("error: --listen port + --nodes goes past port 65535");
                    return ExitCode::from(EXIT_USAGE);
                }
            }
        }
        match sim::start(listen, args.seed + u64::from(index), args.password.clone()).await {
            Ok(node) => {
                use std::io::Write;
                let line =
                    serde_json::json!({"id": node.inventory.node_id(), "address": node.address, "emulated": true});
                // A closed stdout (the reader went away) is not a reason to stop the nodes.
                let _ = writeln!(std::io::stdout(), "{line}");
            }
            Err(err) => {
                eprintln!("error: cannot start emulated node {index} on {listen}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    tracing::info!(nodes = args.nodes, "emulated Zero-OS nodes running; stop with Ctrl-C");
    wait_for_signal().await;
    ExitCode::SUCCESS
}

/// `token create`: works on the data directory directly, so it needs the server to be stopped (the store allows
/// one process at a time). The token goes to stdout, alone, so it can be captured; nothing is logged.
async fn token_create(data_dir: &std::path::Path, name: &str, role: model::Role) -> ExitCode {
    if let Err(invalid) = model::validate_id("name", name) {
        eprintln!("error: invalid value '{name}' for '--name': {}", invalid.message);
        return ExitCode::from(EXIT_USAGE);
    }
    let store = match Store::open(data_dir) {
        Ok(store) => store,
        Err(StoreError::Locked { path }) => {
            eprintln!(
                "error: {} is in use by a running zos-orchestrator; create tokens through its API (POST /tokens) \
                 or stop it first",
                path.display()
            );
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("error: cannot open the state store in {}: {err}", data_dir.display());
            return ExitCode::FAILURE;
        }
    };
    let audit = match audit::Audit::open(store.clone(), None) {
        Ok(audit) => audit,
        Err(err) => {
            eprintln!("error: cannot open the audit log: {err}");
            return ExitCode::FAILURE;
        }
    };
    match auth::issue(&store, name, role).await {
        Ok(issued) => {
            audit.record(token_created("cli", &issued.token)).await;
            println!("{}", issued.secret);
            eprintln!(
                "created {role} token '{name}' (id {}); it is shown only this once",
                issued.token.id
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot create the token: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The audit entry of a token made outside the API (the bootstrap token, `token create`): the `POST /tokens` it
/// amounts to, so a search for token changes finds it.
fn token_created(actor: &str, token: &model::Token) -> model::AuditEntry {
    model::AuditEntry {
        actor: actor.to_owned(),
        token_id: None,
        role: None,
        method: "POST".to_owned(),
        route: "/tokens".to_owned(),
        path: "/tokens".to_owned(),
        location: Some(format!("/tokens/{}", token.id)),
        note: Some(model::token_note(token)),
        status: 201,
        client: "local".to_owned(),
    }
}
