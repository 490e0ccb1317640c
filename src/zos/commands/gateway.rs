//! The gateway flist's programs, run inside a gateway's container as 0-orchestrator's gateway runs them: `nft`
//! loads the firewall, dnsmasq serves DHCP and DNS, Caddy proxies HTTP. Each configuration is checked by its own
//! program before anything is replaced (`nft -c`, `dnsmasq --test`, `caddy -validate`), so a configuration the
//! gateway refuses leaves the running one in place; the refusal is the program's own message.

use super::{Core, SYSTEM, System};
use crate::zos::protocol::State;
use crate::zos::{ZosClient, ZosError};

/// A gateway's long-running programs: 0-orchestrator's job ids `dhcp.<gateway>` and `http.<gateway>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayService {
    Dhcp,
    Http,
}

impl GatewayService {
    /// The prefix of the service's job ids for gateway `gateway` (each start adds `.<start time>`: 0-core keeps
    /// a finished job's id for a while).
    pub fn job_prefix(self, gateway: &str) -> String {
        match self {
            GatewayService::Dhcp => format!("dhcp.{gateway}"),
            GatewayService::Http => format!("http.{gateway}"),
        }
    }

    /// The program and its arguments, given its configuration file.
    fn command(self, config: &str) -> (&'static str, Vec<String>) {
        match self {
            GatewayService::Dhcp => ("/bin/dnsmasq", vec![format!("--conf-file={config}"), "-d".into()]),
            GatewayService::Http => ("/bin/caddy", vec!["-agree".into(), "-conf".into(), config.into()]),
        }
    }
}

impl Core<'_> {
    /// Writes `content` to `path`, replacing the file.
    pub async fn put_file(&self, path: &str, content: &[u8]) -> Result<(), ZosError> {
        let fd = self.open_write(path, 0o644).await?;
        self.write(&fd, content).await?;
        self.close(fd).await
    }
}

impl ZosClient {
    /// `nft -c -f <config>`: whether the ruleset loads, without loading it.
    pub async fn check_firewall(&self, container: u64, config: &str) -> Result<(), ZosError> {
        self.run_program(container, "/sbin/nft", &["-c", "-f", config]).await
    }

    /// `nft -f <config>`: replaces the gateway's ruleset.
    pub async fn load_firewall(&self, container: u64, config: &str) -> Result<(), ZosError> {
        self.run_program(container, "/sbin/nft", &["-f", config]).await
    }

    /// `dnsmasq --test --conf-file=<config>`: whether dnsmasq takes the configuration (and its hosts file).
    pub async fn check_dhcp(&self, container: u64, config: &str) -> Result<(), ZosError> {
        let file = format!("--conf-file={config}");
        self.run_program(container, "/bin/dnsmasq", &["--test", &file]).await
    }

    /// `caddy -validate -conf <config>`: whether Caddy takes the Caddyfile.
    pub async fn check_http(&self, container: u64, config: &str) -> Result<(), ZosError> {
        self.run_program(container, "/bin/caddy", &["-validate", "-conf", config])
            .await
    }

    /// Starts `service` with `config` as job `id` (see [`GatewayService::job_prefix`]).
    pub async fn start_gateway_service(
        &self,
        container: u64,
        service: GatewayService,
        id: &str,
        config: &str,
    ) -> Result<(), ZosError> {
        let (name, args) = service.command(config);
        let process = System {
            name,
            args: &args,
            dir: None,
            environment: &[],
            stdin: Some("\n"),
        };
        self.start_service(container, id, &process).await
    }

    /// Runs a program inside `container` to its end; an exit other than 0 is an error carrying what it printed
    /// on stderr.
    async fn run_program(&self, container: u64, name: &str, args: &[&str]) -> Result<(), ZosError> {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let process = System::program(name, &args);
        let result = self.run_in(container, SYSTEM, process.arguments()).await?;
        if result.state == State::Success {
            return Ok(());
        }
        let stderr = result.streams.get(1).map(|s| s.trim()).unwrap_or_default();
        Err(ZosError::Command {
            state: result.state,
            code: result.code,
            message: if stderr.is_empty() {
                result.data
            } else {
                stderr.to_owned()
            },
        })
    }
}
