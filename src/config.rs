//! Settings, from three sources merged once at start: command-line flag, then `ZOS_*` environment variable
//! (both handled by clap), then the TOML file given with `--config`, then the built-in default.
//!
//! Every problem is reported as one line that names the setting, and the process exits with status 2 before it
//! starts anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::health::{Levels, Thresholds};
use crate::model::Role;

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_DATA_DIR: &str = "./zos-data";
/// The key prefix of everything an etcd-backed store writes.
pub const DEFAULT_STORE_PREFIX: &str = "zos-orchestrator";
pub const DEFAULT_TFTP_LISTEN: &str = "0.0.0.0:69";
pub const DEFAULT_ZEROTIER_API: &str = "https://api.zerotier.com/api/v1";
/// Node's default; far above what a browser, curl or iPXE sends, far below what would let a client park memory.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 16 * 1024;
/// A request's headers are a few hundred bytes: ten seconds is slack for any honest link, not for slowloris.
pub const DEFAULT_HEADER_READ_TIMEOUT: u64 = 10;
/// Long enough that a UI's pooled connections survive between clicks, short enough that abandoned ones go.
pub const DEFAULT_IDLE_TIMEOUT: u64 = 60;
/// Well above one browser (six connections, plus its event streams) or a benchmark's 64, so only a client that
/// hoards connections meets it; people behind one NAT share it, hence not lower.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u64 = 256;

#[derive(Parser, Debug)]
#[command(
    name = "zos-orchestrator",
    version,
    about = "Bootstraps and runs a Zero-OS cluster from one binary"
)]
pub struct Cli {
    /// TOML file with settings (keys as the long flag names with '_' for '-'); flags and env override it.
    #[arg(long, global = true, env = "ZOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the orchestrator: API, web UI and engine.
    Serve(Box<ServeArgs>),
    /// Manage API tokens offline (while no server holds the data directory).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run emulated Zero-OS nodes that speak the real 0-core protocol (for demos, benchmarks and tests).
    /// Prints one JSON line per node: {"id", "address", "emulated": true}.
    Sim(SimArgs),
    /// Check that the server on the configured listen address answers GET /health with 200 (exit 0, else 1);
    /// for container health checks, so the image needs no curl.
    Healthcheck(HealthcheckArgs),
    /// Rebuild a data directory from a backup (GET /admin/backup). Exit 3 when the backup is refused (truncated,
    /// corrupt, or from a newer version), 2 when the directory is not empty (see --force) or in use; the
    /// directory is left as it was then.
    Restore(RestoreArgs),
    /// Move the state between stores, offline: every record, token, audit entry and setting. The target must be
    /// empty (or hold an interrupted copy, which is cleared); it is never left half-written. Exit 2 when the
    /// target is not empty.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Serve vdisks over NBD (0-disk's `nbdserver`): each vdisk is an export named by its id; the vdisks and
    /// their clusters come from the orchestrator's API (--api) or from the TOML file given with --config.
    Nbdserver(NbdServerArgs),
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub data: DataDirArg,
    /// Replace the contents of a data directory that is not empty (never one a running server holds)
    #[arg(long)]
    pub force: bool,
    /// With an etcd store, the records go to its prefix (which must be empty) and the asset files to the data
    /// directory
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct NbdServerArgs {
    /// This server's id (0-disk's: the VM whose vdisks it serves); named in its log lines
    #[arg(long)]
    pub id: String,
    /// Where to listen: unix:PATH or tcp:HOST:PORT
    #[arg(long, value_name = "unix:PATH|tcp:ADDR", value_parser = parse_nbd_address)]
    pub address: NbdAddress,
    /// The orchestrator to read vdisks and storage clusters from (e.g. http://10.0.0.1:8080), with the token in
    /// ZOS_TOKEN; without it, --config names the file to read them from
    #[arg(long, env = "ZOS_NBD_API", value_name = "URL")]
    pub api: Option<String>,
}

/// `nbdserver --address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbdAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

fn parse_nbd_address(text: &str) -> Result<NbdAddress, String> {
    if let Some(path) = text.strip_prefix("unix:").filter(|path| !path.is_empty()) {
        return Ok(NbdAddress::Unix(path.into()));
    }
    match text.strip_prefix("tcp:").map(str::parse) {
        Some(Ok(address)) => Ok(NbdAddress::Tcp(address)),
        _ => Err("expected unix:PATH or tcp:HOST:PORT".into()),
    }
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The server's HTTP address, as `serve` takes it; 0.0.0.0 or [::] means this host [default: 0.0.0.0:8080]
    #[arg(long, env = "ZOS_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// How many nodes (each takes a port, and two open files: its listener and the orchestrator's connection)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub nodes: u32,
    /// Address of the first node; the others take the following ports (port 0: each picks a free one)
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Password the nodes require (0-core's AUTH); none by default
    #[arg(long, env = "ZOS_SIM_PASSWORD")]
    pub password: Option<String>,
    /// Seed of the first node's inventory; node i uses seed + i, so a run is reproducible
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address for HTTP (API, web UI) [default: 0.0.0.0:8080]
    #[arg(long, env = "ZOS_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub store: StoreArg,
    /// Log format [default: text]
    #[arg(long, env = "ZOS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// UDP address for TFTP (iPXE binaries and boot scripts), or `off` [default: 0.0.0.0:69]
    #[arg(long, env = "ZOS_TFTP_LISTEN", value_name = "ADDR|off", value_parser = parse_tftp_listen)]
    pub tftp_listen: Option<TftpListen>,
    /// Answer PXE clients on this network interface as a proxyDHCP server (UDP 67 and 4011), beside the site's
    /// own DHCP server, which keeps handing out addresses; or `off` [default: off]
    #[arg(long, env = "ZOS_PROXY_DHCP", value_name = "IFACE|off", value_parser = parse_proxy_dhcp)]
    pub proxy_dhcp: Option<ProxyDhcp>,
    /// Serve iPXE binaries from this directory instead of the embedded ones
    #[arg(long, env = "ZOS_IPXE_DIR", value_name = "DIR")]
    pub ipxe_dir: Option<PathBuf>,
    /// Build the boot media's BIOS side from this directory's isolinux.bin, isohdpfx.bin and ldlinux.c32 instead of
    /// the embedded ones
    #[arg(long, env = "ZOS_SYSLINUX_DIR", value_name = "DIR")]
    pub syslinux_dir: Option<PathBuf>,
    /// Base URL machines use to reach this server over HTTP [default: http://<TFTP next-server>:<listen port>]
    #[arg(long, env = "ZOS_BOOT_URL", value_name = "URL", value_parser = parse_boot_url)]
    pub boot_url: Option<String>,
    /// Also run N emulated Zero-OS nodes in-process and register them (labelled demo=true, marked emulated)
    #[arg(long, env = "ZOS_DEMO", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=5000))]
    pub demo: Option<u32>,
    /// ZeroTier Central API base URL, for discovery (with ZOS_ZEROTIER_TOKEN set; the network is the boot
    /// settings' zerotierNetwork) [default: https://api.zerotier.com/api/v1]
    #[arg(
        long,
        env = "ZOS_ZEROTIER_API",
        value_name = "URL",
        conflicts_with = "zerotier_controller"
    )]
    pub zerotier_api: Option<String>,
    /// A self-hosted ZeroTier controller (the ZeroTier One service, e.g. http://10.0.0.1:9993) instead of
    /// Central; its auth token comes from ZOS_ZEROTIER_TOKEN too
    #[arg(long, env = "ZOS_ZEROTIER_CONTROLLER", value_name = "URL")]
    pub zerotier_controller: Option<String>,
    /// Which new ZeroTier members to authorise without an operator: none or all [default: none]
    #[arg(long, env = "ZOS_ZEROTIER_AUTHORIZE", value_enum)]
    pub zerotier_authorize: Option<AuthorizePolicy>,
    /// MACs of the nodes the allowlist policy authorises (comma-separated)
    #[arg(long, env = "ZOS_ZEROTIER_ALLOW", value_name = "MACS", value_delimiter = ',')]
    pub zerotier_allow: Vec<String>,
    /// The cluster's ZeroTier network id (16 hex digits), written into the boot settings (zerotierNetwork) at
    /// every start, so one command line sets up a cluster; unset, the API and UI own it
    #[arg(long, env = "ZOS_ZEROTIER_NETWORK", value_name = "ID", value_parser = parse_zerotier_network)]
    pub zerotier_network: Option<String>,
    /// Port of 0-core on discovered nodes [default: 6379]
    #[arg(long, env = "ZOS_NODE_PORT", value_name = "PORT")]
    pub node_port: Option<u16>,
    /// Seconds between two heartbeats of a node [default: 10]
    #[arg(long, env = "ZOS_HEARTBEAT_INTERVAL", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_interval: Option<u64>,
    /// Seconds between two readings of a node's health (memory, CPU, pools, clock, its monitors), taken on a
    /// heartbeat, so never more often than those; each node's next reading comes between half of it and all of
    /// it after the last [default: 30]
    #[arg(long, env = "ZOS_HEALTH_INTERVAL", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(HEALTH_INTERVAL_RANGE))]
    pub health_interval: Option<u64>,
    /// Seconds of the engine leader's etcd lease: how long the instances on one etcd wait for a leader that
    /// stopped renewing it before another takes over (ignored with sled) [default: 3]
    #[arg(long, env = "ZOS_LEADER_LEASE", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(LEADER_LEASE_RANGE))]
    pub leader_lease: Option<u64>,
    /// Seconds a workload request waits for the node before answering 202 with the job to follow [default: 20]
    #[arg(long, env = "ZOS_APPLY_WAIT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=600))]
    pub apply_wait: Option<u64>,
    /// Largest request head (request line and headers) in bytes; a larger one is answered 431 [default: 16384]
    #[arg(long, env = "ZOS_MAX_HEADER_BYTES", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(MAX_HEADER_BYTES_RANGE))]
    pub max_header_bytes: Option<u64>,
    /// Seconds a client has to send a request's headers, from connecting or from the first byte of a request on
    /// a kept-alive connection; then the connection is closed [default: 10]
    #[arg(long, env = "ZOS_HEADER_READ_TIMEOUT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(HEADER_READ_TIMEOUT_RANGE))]
    pub header_read_timeout: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request before it is closed (never while a response,
    /// such as the event stream, is being sent) [default: 60]
    #[arg(long, env = "ZOS_IDLE_TIMEOUT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(IDLE_TIMEOUT_RANGE))]
    pub idle_timeout: Option<u64>,
    /// Open connections allowed from one client address; another is answered 503 and closed [default: 256]
    #[arg(long, env = "ZOS_MAX_CONNECTIONS_PER_IP", value_name = "N", value_parser = clap::value_parser!(u64).range(MAX_CONNECTIONS_PER_IP_RANGE))]
    pub max_connections_per_ip: Option<u64>,
    /// How many audit records to keep; older ones are removed as new ones arrive [default: 100000]
    #[arg(long, env = "ZOS_AUDIT_KEEP_RECORDS", value_name = "N", value_parser = clap::value_parser!(u64).range(AUDIT_RECORDS))]
    pub audit_keep_records: Option<u64>,
    /// How many days to keep audit records [default: 90]
    #[arg(long, env = "ZOS_AUDIT_KEEP_DAYS", value_name = "DAYS", value_parser = clap::value_parser!(u64).range(AUDIT_DAYS))]
    pub audit_keep_days: Option<u64>,
    /// Seconds a webhook receiver has to answer one delivery (connecting included) [default: 10]
    #[arg(long, env = "ZOS_WEBHOOK_TIMEOUT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(WEBHOOK_TIMEOUT))]
    pub webhook_timeout: Option<u64>,
    /// Longest wait between two tries of a failed webhook delivery (the waits double from one second)
    /// [default: 300]
    #[arg(long, env = "ZOS_WEBHOOK_RETRY_MAX", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(WEBHOOK_RETRY_MAX))]
    pub webhook_retry_max: Option<u64>,
    /// Events a webhook's queue holds; when it is full the oldest is dropped for a new one [default: 10000]
    #[arg(long, env = "ZOS_WEBHOOK_QUEUE_LIMIT", value_name = "N", value_parser = clap::value_parser!(u64).range(WEBHOOK_QUEUE_LIMIT))]
    pub webhook_queue_limit: Option<u64>,
    /// A storage pool's use, in percent, at which the node's disk check warns and fails: WARNING,ERROR
    /// [default: 90,95]
    #[arg(long, env = "ZOS_HEALTH_DISK", value_name = "W,E", value_parser = parse_percent_levels)]
    pub health_disk: Option<Levels>,
    /// Memory in use, in percent, at which the node's memory check warns and fails [default: 90,95]
    #[arg(long, env = "ZOS_HEALTH_MEMORY", value_name = "W,E", value_parser = parse_percent_levels)]
    pub health_memory: Option<Levels>,
    /// CPU load (five-minute mean over all cores), in percent, at which the node's CPU check warns and fails
    /// [default: 80,95]
    #[arg(long, env = "ZOS_HEALTH_CPU", value_name = "W,E", value_parser = parse_percent_levels)]
    pub health_cpu: Option<Levels>,
    /// Seconds a node's clock may be off ours before its time check warns and fails [default: 5,30]
    #[arg(long, env = "ZOS_HEALTH_TIME_DRIFT", value_name = "W,E", value_parser = parse_second_levels)]
    pub health_time_drift: Option<Levels>,
    /// Context switches per second (the node's own monitor, five-minute mean) at which its check warns and fails
    /// [default: 600000,1000000]
    #[arg(long, env = "ZOS_HEALTH_CONTEXT_SWITCH", value_name = "W,E", value_parser = parse_rate_levels)]
    pub health_context_switch: Option<Levels>,
    /// Interrupts per second (the node's own monitor, five-minute mean) at which its check warns and fails
    /// [default: 180000,200000]
    #[arg(long, env = "ZOS_HEALTH_INTERRUPTS", value_name = "W,E", value_parser = parse_rate_levels)]
    pub health_interrupts: Option<Levels>,
    /// Threads per hyperthread (the node's own monitor, five-minute mean) at which its check warns and fails
    /// [default: 300,400]
    #[arg(long, env = "ZOS_HEALTH_THREADS", value_name = "W,E", value_parser = parse_rate_levels)]
    pub health_threads: Option<Levels>,
}

const HEALTH_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;
const MAX_HEADER_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=256 * 1024;
const HEADER_READ_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=600;
const IDLE_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;
const MAX_CONNECTIONS_PER_IP_RANGE: std::ops::RangeInclusive<u64> = 1..=65535;
/// etcd grants no lease shorter than its election timeout allows (two seconds with its defaults).
const LEADER_LEASE_RANGE: std::ops::RangeInclusive<u64> = 2..=60;

/// What the HTTP server allows a client (`http_server`): one request head's size, how long a head may take and a
/// kept-alive connection may idle, and how many connections one address may hold.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_header_bytes: usize,
    pub header_read_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections_per_ip: u32,
}

/// What `audit_keep_records` may be: enough for a day's changes, at most what a scan per `GET /audit` bears.
const AUDIT_RECORDS: std::ops::RangeInclusive<u64> = 100..=10_000_000;
/// What `audit_keep_days` may be: a day to ten years.
const AUDIT_DAYS: std::ops::RangeInclusive<u64> = 1..=3650;

/// What `webhook_timeout` may be: a second to five minutes.
const WEBHOOK_TIMEOUT: std::ops::RangeInclusive<u64> = 1..=300;
/// What `webhook_retry_max` may be: a second to an hour.
const WEBHOOK_RETRY_MAX: std::ops::RangeInclusive<u64> = 1..=3600;
/// What `webhook_queue_limit` may be: a few events to a million per webhook.
const WEBHOOK_QUEUE_LIMIT: std::ops::RangeInclusive<u64> = 10..=1_000_000;

/// The node health checks' thresholds when none are configured.
pub const DEFAULT_HEALTH: Thresholds = Thresholds {
    disk: Levels {
        warning: 90.0,
        error: 95.0,
    },
    memory: Levels {
        warning: 90.0,
        error: 95.0,
    },
    cpu: Levels {
        warning: 80.0,
        error: 95.0,
    },
    time_drift: Levels {
        warning: 5.0,
        error: 30.0,
    },
    // The node monitors' levels are the reference's own health checks'.
    context_switch: Levels {
        warning: 600_000.0,
        error: 1_000_000.0,
    },
    interrupts: Levels {
        warning: 180_000.0,
        error: 200_000.0,
    },
    threads: Levels {
        warning: 300.0,
        error: 400.0,
    },
};

/// `W,E`: a warning and an error level, `0 <= W <= E <= max`.
fn parse_levels(text: &str, max: f64, unit: &str) -> Result<Levels, String> {
    let expected = || format!("expected WARNING,ERROR in {unit}, 0 <= WARNING <= ERROR <= {max}, e.g. 90,95");
    let (warning, error) = text.split_once(',').ok_or_else(expected)?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (0.0..=max).contains(v))
    };
    match (number(warning), number(error)) {
        (Some(warning), Some(error)) if warning <= error => Ok(Levels { warning, error }),
        _ => Err(expected()),
    }
}

fn parse_percent_levels(text: &str) -> Result<Levels, String> {
    parse_levels(text, 100.0, "percent")
}

fn parse_second_levels(text: &str) -> Result<Levels, String> {
    parse_levels(text, 86_400.0, "seconds")
}

/// Counts (per second, per CPU) of the node's own monitors.
fn parse_rate_levels(text: &str) -> Result<Levels, String> {
    parse_levels(text, 1e12, "counts")
}

/// A `--health-*` setting: flag or env (`arg`, checked by clap), else the file's, else `default`.
fn health_levels(
    setting: &str,
    arg: Option<Levels>,
    file: Option<String>,
    default: Levels,
    parse: fn(&str) -> Result<Levels, String>,
) -> Result<Levels, ConfigError> {
    match (arg, file) {
        (Some(levels), _) => Ok(levels),
        (None, Some(text)) => {
            parse(&text).map_err(|err| ConfigError(format!("config: invalid value '{text}' for {setting}: {err}")))
        }
        (None, None) => Ok(default),
    }
}

/// Which new ZeroTier members are authorised automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizePolicy {
    /// An operator authorises each member (API or UI).
    None,
    /// Every member that asks to join.
    All,
    /// Members that turn out to be one of the allowed nodes (`--zerotier-allow`, MACs): a member is authorised
    /// so its 0-core can be asked for its MAC, and de-authorised again if that MAC is not on the list.
    Allowlist,
}

/// ZeroTier discovery settings; present when a token is configured.
#[derive(Debug, Clone)]
pub struct ZeroTierConfig {
    pub kind: crate::zerotier::Kind,
    pub api: String,
    /// From ZOS_ZEROTIER_TOKEN or the config file only (a flag would show in `ps`).
    pub token: String,
    pub authorize: AuthorizePolicy,
    /// Node ids (MACs without colons, lower case) the allowlist policy accepts.
    pub allow: Vec<String>,
}

/// `--tftp-listen`: an address, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TftpListen {
    Off,
    On(SocketAddr),
}

fn parse_tftp_listen(text: &str) -> Result<TftpListen, String> {
    if text == "off" {
        return Ok(TftpListen::Off);
    }
    text.parse()
        .map(TftpListen::On)
        .map_err(|err| format!("{err} (expected ADDR:PORT or off)"))
}

/// `--proxy-dhcp`: a network interface, or off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyDhcp {
    Off,
    On(String),
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ less the NUL), no '/', no whitespace, not '.' or '..'.
fn parse_proxy_dhcp(text: &str) -> Result<ProxyDhcp, String> {
    if text == "off" {
        return Ok(ProxyDhcp::Off);
    }
    let valid = (1..=15).contains(&text.len())
        && !matches!(text, "." | "..")
        && text.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if !valid {
        return Err("must be a network interface name (1 to 15 characters, no '/', ':' or spaces) or off".into());
    }
    Ok(ProxyDhcp::On(text.to_owned()))
}

/// 16 hex digits, in lower case as the API stores it.
fn parse_zerotier_network(text: &str) -> Result<String, String> {
    crate::model::boot::validate_zerotier_network("zerotier_network", text).map_err(|invalid| invalid.message)?;
    Ok(text.to_ascii_lowercase())
}

fn parse_boot_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .ok_or("must start with http:// (iPXE speaks plain HTTP)")?;
    let safe = !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]/_".contains(c));
    if !safe {
        return Err("must be http://host[:port][/path] with no query, spaces or special characters".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

#[derive(Args, Debug)]
pub struct DataDirArg {
    /// Directory for the state store and the bootstrap token [default: ./zos-data]
    #[arg(long, env = "ZOS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StoreArg {
    /// Where the state lives: `sled` (in the data directory) or `etcd://host:port[,host:port…]`, an etcd v3
    /// cluster several orchestrators can share [default: sled]
    #[arg(long, env = "ZOS_STORE", value_name = "sled|etcd://HOST:PORT,…")]
    pub store: Option<String>,
    /// The prefix of every etcd key this orchestrator writes [default: zos-orchestrator]
    #[arg(long, env = "ZOS_STORE_PREFIX", value_name = "PREFIX")]
    pub store_prefix: Option<String>,
    #[command(flatten)]
    pub etcd: EtcdSecurityArgs,
}

/// How to authenticate to an etcd cluster that asks for it (TLS with `etcds://`, an etcd user). The password is
/// read from ZOS_ETCD_PASSWORD or a file, never from a flag: a flag shows in the process list.
#[derive(Args, Debug, Default)]
pub struct EtcdSecurityArgs {
    /// The CA certificate (PEM) that signed the etcd members' certificates (with an etcds:// store)
    #[arg(long, env = "ZOS_ETCD_CACERT", value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,
    /// A client certificate (PEM) for etcd members started with --client-cert-auth; with --etcd-key
    #[arg(long, env = "ZOS_ETCD_CERT", value_name = "FILE")]
    pub etcd_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, env = "ZOS_ETCD_KEY", value_name = "FILE")]
    pub etcd_key: Option<PathBuf>,
    /// The etcd user to log in as (etcd with `auth enable`); the password comes from ZOS_ETCD_PASSWORD or
    /// --etcd-password-file
    #[arg(long, env = "ZOS_ETCD_USER", value_name = "NAME")]
    pub etcd_user: Option<String>,
    /// A file whose first line is the etcd user's password
    #[arg(long, env = "ZOS_ETCD_PASSWORD_FILE", value_name = "FILE")]
    pub etcd_password_file: Option<PathBuf>,
}

/// The variable the etcd user's password may come from.
const ETCD_PASSWORD_VAR: &str = "ZOS_ETCD_PASSWORD";

impl EtcdSecurityArgs {
    /// These settings, each falling back to the config file's, with the password read.
    fn resolve(self, file: &FileConfig) -> Result<crate::store::Security, ConfigError> {
        let password_file = self.etcd_password_file.or_else(|| file.etcd_password_file.clone());
        let password = match (std::env::var(ETCD_PASSWORD_VAR).ok(), password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(format!(
                    "config: give the etcd password in {ETCD_PASSWORD_VAR} or in a file, not both"
                )));
            }
            (Some(password), None) => Some(password),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|err| {
                    ConfigError(format!(
                        "config: cannot read the etcd password file {}: {err}",
                        path.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or("").to_owned())
            }
            (None, None) => None,
        };
        Ok(crate::store::Security {
            ca_file: self.etcd_cacert.or_else(|| file.etcd_cacert.clone()),
            cert_file: self.etcd_cert.or_else(|| file.etcd_cert.clone()),
            key_file: self.etcd_key.or_else(|| file.etcd_key.clone()),
            user: self.etcd_user.or_else(|| file.etcd_user.clone()),
            password,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy the state from one store to another (e.g. --from sled:./zos-data --to etcd://10.0.0.1:2379).
    Copy {
        /// The store to read: sled:DIR (with no server running on it) or etcd://HOST:PORT[,HOST:PORT…]
        #[arg(long, value_name = "sled:DIR|etcd://…", value_parser = parse_copy_side)]
        from: String,
        /// The store to fill: sled:DIR (a new or empty directory) or etcd://HOST:PORT[,…] (an unused prefix)
        #[arg(long, value_name = "sled:DIR|etcd://…", value_parser = parse_copy_side)]
        to: String,
        /// The etcd key prefix, on whichever side is etcd
        #[arg(long, env = "ZOS_STORE_PREFIX", value_name = "PREFIX", default_value = DEFAULT_STORE_PREFIX)]
        store_prefix: String,
        /// TLS and user for whichever side is etcd
        #[command(flatten)]
        etcd: EtcdSecurityArgs,
    },
}

fn parse_copy_side(text: &str) -> Result<String, String> {
    crate::store::copy::Side::parse(text, DEFAULT_STORE_PREFIX).map(|_| text.to_owned())
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings `serve` runs with, all sources merged and checked.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: crate::store::Location,
    pub log_format: LogFormat,
    pub tftp_listen: TftpListen,
    pub proxy_dhcp: ProxyDhcp,
    pub ipxe_dir: Option<PathBuf>,
    pub syslinux_dir: Option<PathBuf>,
    pub boot_url: Option<String>,
    pub demo: u32,
    pub heartbeat_interval: std::time::Duration,
    /// How often a node's health is read: `--health-interval`, or the heartbeat's if that is longer.
    pub health_interval: std::time::Duration,
    /// The engine leader's etcd lease (`--leader-lease`).
    pub leader_lease: std::time::Duration,
    /// How long a workload request waits for the node to apply it (then 202 + the job).
    pub apply_wait: std::time::Duration,
    /// Nodes listed in the config file (static discovery).
    pub static_nodes: Vec<StaticNode>,
    pub zerotier: Option<ZeroTierConfig>,
    /// The boot settings' ZeroTier network, owned by the configuration while set.
    pub zerotier_network: Option<String>,
    pub node_port: u16,
    pub http: HttpLimits,
    /// How much of the audit log is kept.
    pub audit: crate::audit::Retention,
    pub webhooks: crate::engine::webhooks::Settings,
    /// What the node health checks judge by.
    pub health: Thresholds,
}

/// A node listed in the config file: `[[nodes]]` with `id`, `address`, and optionally `hostname` and `labels`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticNode {
    pub id: String,
    pub address: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub labels: crate::model::Labels,
}

impl StaticNode {
    fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let field = |name: &str| format!("nodes[{index}].{name}");
        crate::model::validate_id(&field("id"), &self.id)
            .and_then(|()| crate::model::validate_address(&field("address"), &self.address))
            .and_then(|()| crate::model::validate_hostname(&field("hostname"), &self.hostname))
            .and_then(|()| crate::model::validate_labels(&field("labels"), &self.labels))
            .map_err(|invalid| ConfigError(format!("config: {}: {}", invalid.field, invalid.message)))
    }
}

/// The `--config` file. Unknown keys are errors: a typo must not silently fall back to a default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    store_prefix: Option<String>,
    etcd_cacert: Option<PathBuf>,
    etcd_cert: Option<PathBuf>,
    etcd_key: Option<PathBuf>,
    etcd_user: Option<String>,
    etcd_password_file: Option<PathBuf>,
    log_format: Option<String>,
    tftp_listen: Option<String>,
    proxy_dhcp: Option<String>,
    ipxe_dir: Option<PathBuf>,
    syslinux_dir: Option<PathBuf>,
    boot_url: Option<String>,
    demo: Option<u32>,
    heartbeat_interval: Option<u64>,
    health_interval: Option<u64>,
    leader_lease: Option<u64>,
    apply_wait: Option<u64>,
    #[serde(default)]
    nodes: Vec<StaticNode>,
    zerotier_api: Option<String>,
    zerotier_controller: Option<String>,
    zerotier_token: Option<String>,
    zerotier_authorize: Option<AuthorizePolicy>,
    #[serde(default)]
    zerotier_allow: Vec<String>,
    zerotier_network: Option<String>,
    node_port: Option<u16>,
    max_header_bytes: Option<u64>,
    header_read_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_connections_per_ip: Option<u64>,
    audit_keep_records: Option<u64>,
    audit_keep_days: Option<u64>,
    webhook_timeout: Option<u64>,
    webhook_retry_max: Option<u64>,
    webhook_queue_limit: Option<u64>,
    health_disk: Option<String>,
    health_memory: Option<String>,
    health_cpu: Option<String>,
    health_time_drift: Option<String>,
    health_context_switch: Option<String>,
    health_interrupts: Option<String>,
    health_threads: Option<String>,
}

/// A setting that cannot be used, as one line for the operator.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn read_file(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError(format!("config: cannot read {}: {err}", path.display())))?;
    toml::from_str(&text).map_err(|err| {
        // toml's message is multi-line with a source excerpt; its last line says what is wrong.
        let msg = err.message().lines().last().unwrap_or("invalid TOML").to_owned();
        let at = err
            .span()
            .map(|span| text[..span.start].lines().count().max(1))
            .unwrap_or(1);
        ConfigError(format!("config: {} line {at}: {msg}", path.display()))
    })
}

impl ServeConfig {
    pub fn resolve(config_file: Option<&Path>, args: ServeArgs) -> Result<ServeConfig, ConfigError> {
        let file = read_file(config_file)?;
        // First: the rest takes fields out of `file`.
        let store = store_location(args.store, &file)?;
        let listen = listen_address(args.listen, file.listen)?;
        let log_format = match (args.log_format, file.log_format) {
            (Some(format), _) => format,
            (None, Some(text)) => LogFormat::from_str(&text, true).map_err(|_| {
                ConfigError(format!(
                    "config: invalid value '{text}' for log_format (expected text or json)"
                ))
            })?,
            (None, None) => LogFormat::Text,
        };
        let tftp_listen = match (args.tftp_listen, file.tftp_listen) {
            (Some(tftp), _) => tftp,
            (None, Some(text)) => parse_tftp_listen(&text)
                .map_err(|err| ConfigError(format!("config: invalid value '{text}' for tftp_listen: {err}")))?,
            (None, None) => TftpListen::On(DEFAULT_TFTP_LISTEN.parse().expect("default TFTP address parses")),
        };
        let proxy_dhcp = match (args.proxy_dhcp, file.proxy_dhcp) {
            (Some(proxy), _) => proxy,
            (None, Some(text)) => parse_proxy_dhcp(&text)
                .map_err(|err| ConfigError(format!("config: invalid value '{text}' for proxy_dhcp: {err}")))?,
            (None, None) => ProxyDhcp::Off,
        };
        let boot_url = match (args.boot_url, file.boot_url) {
            (Some(url), _) => Some(url),
            (None, Some(text)) => Some(
                parse_boot_url(&text)
                    .map_err(|err| ConfigError(format!("config: invalid value '{text}' for boot_url: {err}")))?,
            ),
            (None, None) => None,
        };
        let data_dir = args
            .data
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let ipxe_dir = args.ipxe_dir.or(file.ipxe_dir);
        let syslinux_dir = args.syslinux_dir.or(file.syslinux_dir);
        let demo = args.demo.or(file.demo).unwrap_or(0);
        if demo > 5000 {
            return Err(ConfigError(format!(
                "config: invalid value '{demo}' for demo: at most 5000"
            )));
        }
        let heartbeat = args.heartbeat_interval.or(file.heartbeat_interval).unwrap_or(10);
        if !(1..=3600).contains(&heartbeat) {
            return Err(ConfigError(format!(
                "config: invalid value '{heartbeat}' for heartbeat_interval: 1 to 3600 seconds"
            )));
        }
        let heartbeat_interval = std::time::Duration::from_secs(heartbeat);
        let health_interval = std::time::Duration::from_secs(in_range(
            "health_interval",
            args.health_interval.or(file.health_interval),
            30,
            HEALTH_INTERVAL_RANGE,
            "seconds",
        )?)
        .max(heartbeat_interval);
        let leader_lease = std::time::Duration::from_secs(in_range(
            "leader_lease",
            args.leader_lease.or(file.leader_lease),
            3,
            LEADER_LEASE_RANGE,
            "seconds",
        )?);
        let apply_wait = args.apply_wait.or(file.apply_wait).unwrap_or(20);
        if apply_wait > 600 {
            return Err(ConfigError(format!(
                "config: invalid value '{apply_wait}' for apply_wait: 0 to 600 seconds"
            )));
        }
        let apply_wait = std::time::Duration::from_secs(apply_wait);
        for (index, node) in file.nodes.iter().enumerate() {
            node.validate(index)?;
        }
        let token = std::env::var("ZOS_ZEROTIER_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or(file.zerotier_token);
        let controller = args.zerotier_controller.or(file.zerotier_controller);
        let (kind, api, setting) = match controller {
            Some(url) => (crate::zerotier::Kind::Controller, url, "zerotier_controller"),
            None => {
                let api = args
                    .zerotier_api
                    .or(file.zerotier_api)
                    .unwrap_or_else(|| DEFAULT_ZEROTIER_API.to_owned());
                (crate::zerotier::Kind::Central, api, "zerotier_api")
            }
        };
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Err(ConfigError(format!(
                "config: invalid value '{api}' for {setting}: must be an http(s) URL"
            )));
        }
        let authorize = args
            .zerotier_authorize
            .or(file.zerotier_authorize)
            .unwrap_or(AuthorizePolicy::None);
        let allow_list = if args.zerotier_allow.is_empty() {
            file.zerotier_allow
        } else {
            args.zerotier_allow
        };
        let allow = allow_list
            .iter()
            .map(|mac| {
                crate::model::boot::normalize_mac("zerotier_allow", mac)
                    .map(|mac| mac.replace(':', ""))
                    .map_err(|_| ConfigError(format!("config: invalid value '{mac}' for zerotier_allow: not a MAC")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if authorize == AuthorizePolicy::Allowlist && allow.is_empty() {
            return Err(ConfigError(
                "config: zerotier_authorize allowlist needs zerotier_allow (MACs)".into(),
            ));
        }
        let zerotier = token.map(|token| ZeroTierConfig {
            kind,
            api,
            token,
            authorize,
            allow,
        });
        let zerotier_network =
            match (args.zerotier_network, file.zerotier_network) {
                (Some(network), _) => Some(network),
                (None, Some(text)) => Some(parse_zerotier_network(&text).map_err(|err| {
                    ConfigError(format!("config: invalid value '{text}' for zerotier_network: {err}"))
                })?),
                (None, None) => None,
            };
        let node_port = args.node_port.or(file.node_port).unwrap_or(6379);
        let http = HttpLimits {
            max_header_bytes: in_range(
                "max_header_bytes",
                args.max_header_bytes.or(file.max_header_bytes),
                DEFAULT_MAX_HEADER_BYTES,
                MAX_HEADER_BYTES_RANGE,
                "bytes",
            )? as usize, // at most MAX_HEADER_BYTES_RANGE's end
            header_read_timeout: std::time::Duration::from_secs(in_range(
                "header_read_timeout",
                args.header_read_timeout.or(file.header_read_timeout),
                DEFAULT_HEADER_READ_TIMEOUT,
                HEADER_READ_TIMEOUT_RANGE,
                "seconds",
            )?),
            idle_timeout: std::time::Duration::from_secs(in_range(
                "idle_timeout",
                args.idle_timeout.or(file.idle_timeout),
                DEFAULT_IDLE_TIMEOUT,
                IDLE_TIMEOUT_RANGE,
                "seconds",
            )?),
            max_connections_per_ip: in_range(
                "max_connections_per_ip",
                args.max_connections_per_ip.or(file.max_connections_per_ip),
                DEFAULT_MAX_CONNECTIONS_PER_IP,
                MAX_CONNECTIONS_PER_IP_RANGE,
                "connections",
            )? as u32, // at most MAX_CONNECTIONS_PER_IP_RANGE's end
        };
        let audit = crate::audit::Retention {
            records: in_range(
                "audit_keep_records",
                args.audit_keep_records.or(file.audit_keep_records),
                100_000,
                AUDIT_RECORDS,
                "records",
            )?,
            age: std::time::Duration::from_secs(
                in_range(
                    "audit_keep_days",
                    args.audit_keep_days.or(file.audit_keep_days),
                    90,
                    AUDIT_DAYS,
                    "days",
                )? * 86_400,
            ),
        };
        let webhooks = crate::engine::webhooks::Settings {
            timeout: std::time::Duration::from_secs(in_range(
                "webhook_timeout",
                args.webhook_timeout.or(file.webhook_timeout),
                10,
                WEBHOOK_TIMEOUT,
                "seconds",
            )?),
            retry_max: std::time::Duration::from_secs(in_range(
                "webhook_retry_max",
                args.webhook_retry_max.or(file.webhook_retry_max),
                300,
                WEBHOOK_RETRY_MAX,
                "seconds",
            )?),
            queue_limit: in_range(
                "webhook_queue_limit",
                args.webhook_queue_limit.or(file.webhook_queue_limit),
                10_000,
                WEBHOOK_QUEUE_LIMIT,
                "events",
            )?,
        };
        let health = Thresholds {
            disk: health_levels(
                "health_disk",
                args.health_disk,
                file.health_disk,
                DEFAULT_HEALTH.disk,
                parse_percent_levels,
            )?,
            memory: health_levels(
                "health_memory",
                args.health_memory,
                file.health_memory,
                DEFAULT_HEALTH.memory,
                parse_percent_levels,
            )?,
            cpu: health_levels(
                "health_cpu",
                args.health_cpu,
                file.health_cpu,
                DEFAULT_HEALTH.cpu,
                parse_percent_levels,
            )?,
            time_drift: health_levels(
                "health_time_drift",
                args.health_time_drift,
                file.health_time_drift,
                DEFAULT_HEALTH.time_drift,
                parse_second_levels,
            )?,
            context_switch: health_levels(
                "health_context_switch",
                args.health_context_switch,
                file.health_context_switch,
                DEFAULT_HEALTH.context_switch,
                parse_rate_levels,
            )?,
            interrupts: health_levels(
                "health_interrupts",
                args.health_interrupts,
                file.health_interrupts,
                DEFAULT_HEALTH.interrupts,
                parse_rate_levels,
            )?,
            threads: health_levels(
                "health_threads",
                args.health_threads,
                file.health_threads,
                DEFAULT_HEALTH.threads,
                parse_rate_levels,
            )?,
        };
        Ok(ServeConfig {
            listen,
            data_dir,
            store,
            log_format,
            tftp_listen,
            proxy_dhcp,
            ipxe_dir,
            syslinux_dir,
            boot_url,
            demo,
            heartbeat_interval,
            health_interval,
            leader_lease,
            apply_wait,
            static_nodes: file.nodes,
            zerotier,
            zerotier_network,
            node_port,
            http,
            audit,
            webhooks,
            health,
        })
    }
}

/// `value` (flag, env or file), else `default`; a file's value outside `range` (clap checks the others) is an
/// error naming the setting.
fn in_range(
    setting: &str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    let value = value.unwrap_or(default);
    if !range.contains(&value) {
        return Err(ConfigError(format!(
            "config: invalid value '{value}' for {setting}: {} to {} {unit}",
            range.start(),
            range.end()
        )));
    }
    Ok(value)
}

/// The HTTP address: flag or env (`arg`), else the file's `listen`, else the default.
fn listen_address(arg: Option<SocketAddr>, file: Option<String>) -> Result<SocketAddr, ConfigError> {
    match (arg, file) {
        (Some(listen), _) => Ok(listen),
        (None, Some(text)) => text
            .parse()
            .map_err(|err| ConfigError(format!("config: invalid value '{text}' for listen: {err}"))),
        (None, None) => Ok(DEFAULT_LISTEN.parse().expect("default listen address parses")),
    }
}

/// The store: flag or env (`arg`), else the file's, else sled.
fn store_location(arg: StoreArg, file: &FileConfig) -> Result<crate::store::Location, ConfigError> {
    let text = arg
        .store
        .or_else(|| file.store.clone())
        .unwrap_or_else(|| "sled".to_owned());
    let prefix = arg
        .store_prefix
        .or_else(|| file.store_prefix.clone())
        .unwrap_or_else(|| DEFAULT_STORE_PREFIX.to_owned());
    let security = arg.etcd.resolve(file)?;
    crate::store::Location::parse(&text, &prefix)
        .and_then(|location| location.secured(security))
        .map_err(|err| ConfigError(format!("config: invalid value '{text}' for store: {err}")))
}

/// The data directory and store for `restore`: flags, env, file, defaults, as for `serve`.
pub fn resolve_restore(
    config_file: Option<&Path>,
    data: DataDirArg,
    store: StoreArg,
) -> Result<(PathBuf, crate::store::Location), ConfigError> {
    let location = store_location(store, &read_file(config_file)?)?;
    Ok((resolve_data_dir(config_file, data)?, location))
}

/// The etcd security settings for `store copy`: its flags and variables, else the config file's.
pub fn resolve_etcd_security(
    config_file: Option<&Path>,
    args: EtcdSecurityArgs,
) -> Result<crate::store::Security, ConfigError> {
    args.resolve(&read_file(config_file)?)
}

/// The address `healthcheck` asks: the one `serve` would listen on with the same flags, env and file.
pub fn resolve_listen(config_file: Option<&Path>, args: HealthcheckArgs) -> Result<SocketAddr, ConfigError> {
    listen_address(args.listen, read_file(config_file)?.listen)
}

/// The data directory for offline commands: flag, env, file, default — the same order as `serve`.
pub fn resolve_data_dir(config_file: Option<&Path>, arg: DataDirArg) -> Result<PathBuf, ConfigError> {
    let file = read_file(config_file)?;
    Ok(arg
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)))
}
