//! The boot server: everything a bare-metal machine needs to network-boot Zero-OS from this process.
//!
//! The chain: a PXE ROM loads `undionly.kpxe` / `ipxe.efi` over TFTP ([`tftp`]); iPXE loads a small TFTP script
//! that hands over to HTTP (`/boot.ipxe?mac=…`); there the machine's profile is chosen by the selectors, and its
//! script loads the kernel and initrds (boot assets, [`assets`]) with the cluster's ZeroTier network on the
//! command line ([`script`]). Every file served is recorded as a boot event ([`recorder`]). On networks whose DHCP
//! server we do not control, [`proxy_dhcp`] tells PXE clients which of those files to load.

pub mod assets;
pub mod file_set;
pub mod ipxe;
pub mod media;
pub mod proxy_dhcp;
pub mod recorder;
pub mod script;
pub mod tftp;

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::model::boot::{BOOT_SETTINGS_ID, BootAsset, BootProfile, BootSelector, BootSettings, KernelRef};
use crate::model::{Invalid, Node};
use crate::store::{Store, StoreError};

pub use ipxe::IpxeBinaries;
pub use recorder::{Recorder, Served};

/// TFTP scripts (besides the iPXE binaries and assets).
pub const TFTP_HANDOVER: &str = "boot.ipxe";
pub const TFTP_UNDIONLY_HANDOVER: &str = "undionly.ipxe";

pub struct Boot {
    pub store: Store,
    pub ipxe: IpxeBinaries,
    pub media: media::Media,
    pub assets: assets::AssetDir,
    pub recorder: Recorder,
    /// The HTTP port machines reach us on, for scripts served over TFTP (`http://${next-server}:<port>`).
    http_port: u16,
    /// Overrides that base URL (e.g. behind a proxy or NAT).
    boot_url: Option<String>,
}

/// What a machine's boot script resolved to.
pub struct Rendered {
    pub script: String,
    pub profile: Option<String>,
}

/// The script of a profile a boot URL names (`?profile=`).
pub enum ProfileScript {
    Script(String),
    Missing,
    /// Its command line needs what the request did not give (e.g. `{mac}`), or an asset is missing.
    Unusable(Invalid),
}

/// Who is asking for a boot script (from the query iPXE fills in).
#[derive(Debug, Default)]
pub struct MachineQuery {
    pub mac: Option<String>,
    pub uuid: Option<String>,
    pub platform: Option<String>,
}

impl MachineQuery {
    /// What the boot script sees of this machine: the query, and the node registered for it, if any.
    fn machine<'a>(&'a self, node: Option<&'a Node>) -> script::Machine<'a> {
        script::Machine {
            mac: self.mac.as_deref(),
            platform: self.platform.as_deref(),
            node,
        }
    }
}

impl Boot {
    pub fn new(
        store: Store,
        ipxe: IpxeBinaries,
        syslinux: file_set::FileSet,
        data_dir: &std::path::Path,
        http_port: u16,
        boot_url: Option<String>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Arc<Boot>> {
        let assets = assets::AssetDir::open(&data_dir.join(assets::ASSETS_DIR), &store)?;
        let recorder = Recorder::start(store.clone(), metrics)?;
        Ok(Arc::new(Boot {
            store,
            media: media::Media::new(&ipxe, syslinux),
            ipxe,
            assets,
            recorder,
            http_port,
            boot_url,
        }))
    }

    pub fn settings(&self) -> Result<BootSettings, StoreError> {
        Ok(self
            .store
            .get::<BootSettings>(BOOT_SETTINGS_ID)?
            .map(|r| r.value)
            .unwrap_or_default())
    }

    /// The HTTP base URL for scripts loaded over TFTP, where only iPXE knows which address reached us.
    pub fn tftp_http_base(&self) -> String {
        self.boot_url
            .clone()
            .unwrap_or_else(|| format!("http://${{next-server}}:{}", self.http_port))
    }

    /// The boot file proxyDHCP gives a client that already runs iPXE: the URL the TFTP script chains to, with
    /// this server's address on the client's network instead of `${next-server}` (which, beside the site's DHCP
    /// server, may name that server rather than us).
    pub fn dhcp_chain_url(&self, server: std::net::Ipv4Addr) -> String {
        let base = self
            .boot_url
            .clone()
            .unwrap_or_else(|| format!("http://{server}:{}", self.http_port));
        script::chain_url(&base)
    }

    /// The HTTP base URL for scripts loaded over HTTP: the configured one, else the address the machine used.
    pub fn http_base(&self, host_header: Option<&str>) -> Option<String> {
        if let Some(url) = &self.boot_url {
            return Some(url.clone());
        }
        let host = host_header?;
        let safe = !host.is_empty()
            && host.len() <= 255
            && host.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c));
        safe.then(|| format!("http://{host}"))
    }

    /// The generated TFTP scripts.
    pub fn tftp_script(&self, name: &str) -> Option<String> {
        match name {
            TFTP_HANDOVER => Some(script::tftp_handover(&self.tftp_http_base())),
            TFTP_UNDIONLY_HANDOVER => Some(script::undionly_handover(&self.tftp_http_base())),
            _ => None,
        }
    }

    /// The profile for a machine: a MAC selector, else a UUID selector, else a label selector (labels of the
    /// registered node with that MAC), else the default profile.
    fn choose_profile(&self, query: &MachineQuery, node: Option<&Node>) -> Result<Option<String>, StoreError> {
        let selectors = self.store.all::<BootSelector>()?;
        let by =
            |matches: &dyn Fn(&BootSelector) -> bool| selectors.iter().find(|s| matches(s)).map(|s| s.profile.clone());
        let chosen = by(&|s| s.mac.is_some() && s.mac == query.mac)
            .or_else(|| by(&|s| s.uuid.is_some() && s.uuid == query.uuid))
            .or_else(|| {
                let node = node?;
                by(&|s| {
                    s.label
                        .as_deref()
                        .and_then(|l| l.split_once('='))
                        .is_some_and(|(k, v)| node.labels.get(k).is_some_and(|x| x == v))
                })
            });
        Ok(chosen.or(self.settings()?.default_profile))
    }

    /// The registered node with the asking machine's MAC.
    fn registered_node(&self, query: &MachineQuery) -> Result<Option<Node>, StoreError> {
        match &query.mac {
            Some(mac) => Ok(self.store.get::<Node>(&mac.replace(':', ""))?.map(|r| r.value)),
            None => Ok(None),
        }
    }

    /// The boot script for the machine asking `GET /boot.ipxe`.
    pub fn machine_script(&self, query: &MachineQuery, http_base: &str) -> Result<Rendered, StoreError> {
        let node = self.registered_node(query)?;
        let retry = format!("{http_base}/boot.ipxe");
        let who = query.mac.as_deref().unwrap_or("this machine");
        let Some(profile_name) = self.choose_profile(query, node.as_ref())? else {
            let reason = format!("no boot profile for {who}: add a selector or a default profile");
            return Ok(Rendered {
                script: script::waiting_script(&reason, &retry),
                profile: None,
            });
        };
        let Some(profile) = self.store.get::<BootProfile>(&profile_name)?.map(|r| r.value) else {
            let reason = format!("boot profile '{profile_name}' for {who} does not exist");
            return Ok(Rendered {
                script: script::waiting_script(&reason, &retry),
                profile: Some(profile_name),
            });
        };
        let settings = self.settings()?;
        let machine = query.machine(node.as_ref());
        let vars = script::Vars {
            zerotier: settings.zerotier_network.as_deref(),
            orchestrator: http_base,
        };
        match self.render_profile(&profile, &settings, &machine, &vars, &[]) {
            Ok(script) => Ok(Rendered {
                script,
                profile: Some(profile_name),
            }),
            Err(invalid) => {
                let reason = format!("boot profile '{profile_name}' cannot be used: {}", invalid.message);
                Ok(Rendered {
                    script: script::waiting_script(&sanitize(&reason), &retry),
                    profile: Some(profile_name),
                })
            }
        }
    }

    /// Profile `name` for a machine that names it in a boot URL (0-bootstrap's with `?profile=`): the URL's
    /// `network`, if any, fills `{zerotier}` instead of the cluster's, and its `extra` arguments follow the
    /// profile's command line.
    pub fn profile_script(
        &self,
        name: &str,
        query: &MachineQuery,
        network: Option<&str>,
        extra: &[String],
        http_base: &str,
    ) -> Result<ProfileScript, StoreError> {
        let Some(profile) = self.store.get::<BootProfile>(name)?.map(|r| r.value) else {
            return Ok(ProfileScript::Missing);
        };
        let node = self.registered_node(query)?;
        let settings = self.settings()?;
        let machine = query.machine(node.as_ref());
        let vars = script::Vars {
            zerotier: network.or(settings.zerotier_network.as_deref()),
            orchestrator: http_base,
        };
        Ok(match self.render_profile(&profile, &settings, &machine, &vars, extra) {
            Ok(script) => ProfileScript::Script(script),
            Err(invalid) => ProfileScript::Unusable(invalid),
        })
    }

    fn render_profile(
        &self,
        profile: &BootProfile,
        settings: &BootSettings,
        machine: &script::Machine,
        vars: &script::Vars,
        extra: &[String],
    ) -> Result<String, Invalid> {
        let http_base = vars.orchestrator;
        let rendered = script::render_cmdline(&profile.cmdline, vars, machine)?;
        let cmdline = std::iter::once(rendered)
            .filter(|cmdline| !cmdline.is_empty())
            .chain(extra.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        // Asset downloads carry the MAC, so the boot events of one machine can be followed end to end.
        let tagged = |url: String| match (machine.mac, url.contains("/boot/assets/")) {
            (Some(mac), true) => format!("{url}?mac={mac}"),
            _ => url,
        };
        let kernel_url = tagged(self.kernel_url(&profile.kernel, settings, http_base)?);
        let initrds = profile
            .initrds
            .iter()
            .map(|name| self.asset_url(name, http_base).map(|url| (name.clone(), tagged(url))))
            .collect::<Result<Vec<_>, _>>()?;
        let title = format!(
            "{} boots profile {}",
            machine.mac.unwrap_or("this machine"),
            profile.name
        );
        Ok(script::kernel_script(
            &title,
            &kernel_url,
            &initrds,
            &cmdline,
            machine.platform == Some("efi"),
        ))
    }

    fn asset_url(&self, name: &str, http_base: &str) -> Result<String, Invalid> {
        match self.store.get::<BootAsset>(name) {
            Ok(Some(_)) => Ok(format!("{http_base}/boot/assets/{name}")),
            _ => Err(Invalid::new("initrds", format!("boot asset {name} is not uploaded"))),
        }
    }

    /// Where the kernel of a profile is fetched from.
    pub fn kernel_url(&self, kernel: &KernelRef, settings: &BootSettings, http_base: &str) -> Result<String, Invalid> {
        match kernel {
            KernelRef::Asset(name) => self.asset_url(name, http_base),
            KernelRef::Release(release) => match &settings.kernel_source {
                Some(source) => Ok(format!("{}/zero-os-{release}.efi", source.trim_end_matches('/'))),
                None => {
                    let file = self.release_kernel_asset(release).ok_or_else(|| {
                        Invalid::new(
                            "kernel",
                            format!("no kernel for release {release}: upload zero-os-{release}.efi"),
                        )
                    })?;
                    Ok(format!("{http_base}/kernel/{file}"))
                }
            },
        }
    }

    /// 0-bootstrap's kernel lookup among our assets: `zero-os-<release>.efi`, else `<release>.efi`.
    pub fn release_kernel_asset(&self, release: &str) -> Option<String> {
        [format!("zero-os-{release}.efi"), format!("{release}.efi")]
            .into_iter()
            .find(|name| matches!(self.store.get::<BootAsset>(name), Ok(Some(_))))
    }
}

/// Text for an `echo` line: only characters iPXE prints as they are.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .,:'/=@+-_(){}".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}
