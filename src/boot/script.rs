//! iPXE scripts. Every value that ends up in a script is validated first (see `model::boot`); nothing from a
//! request is pasted in unchecked, so a crafted MAC, label or URL cannot add script commands.

use crate::model::boot::validate_kernel_arg;
use crate::model::{Invalid, Node};

/// The query every chained script sends, so the HTTP side knows which machine asks.
const MACHINE_QUERY: &str = "mac=${net0/mac}&uuid=${uuid}&arch=${buildarch}&platform=${platform}";

/// Where iPXE continues over HTTP: the machine's script, with iPXE filling in who it is.
pub fn chain_url(http_base: &str) -> String {
    format!("{http_base}/boot.ipxe?{MACHINE_QUERY}")
}

/// Served over TFTP as `boot.ipxe`: hands over to HTTP, where the machine's profile is chosen.
pub fn tftp_handover(http_base: &str) -> String {
    format!(
        "#!ipxe\n\
         # zos-orchestrator: continue over HTTP, where this machine's boot profile is chosen.\n\
         :retry\n\
         chain {} || goto failed\n\
         :failed\n\
         echo zos-orchestrator: cannot load {http_base}/boot.ipxe, retrying in 10 s\n\
         sleep 10\n\
         goto retry\n",
        chain_url(http_base)
    )
}

/// Served over TFTP as `undionly.ipxe`, for machines whose NIC ROM cannot be told apart by DHCP (or should be
/// replaced by our iPXE): on BIOS it first chain-loads our `undionly.kpxe` (relative to where this script came
/// from); that iPXE asks DHCP again, is handed this script again, sees it is `undionly`, and continues.
pub fn undionly_handover(http_base: &str) -> String {
    format!(
        "#!ipxe\n\
         # zos-orchestrator: boot through our undionly.kpxe, then continue over HTTP.\n\
         iseq ${{platform}} pcbios || goto http\n\
         iseq ${{net0/chip}} undionly && goto http || chain undionly.kpxe\n\
         :http\n\
         {}",
        tftp_handover(http_base).trim_start_matches("#!ipxe\n")
    )
}

/// What the boot script of one machine needs to know.
pub struct Machine<'a> {
    pub mac: Option<&'a str>,
    /// `efi` or `pcbios` (iPXE's `${platform}`).
    pub platform: Option<&'a str>,
    pub node: Option<&'a Node>,
}

/// Values for the command-line template.
pub struct Vars<'a> {
    pub zerotier: Option<&'a str>,
    pub orchestrator: &'a str,
}

/// Expands `{var}` placeholders in a command-line template and checks every resulting argument.
pub fn render_cmdline(template: &str, vars: &Vars, machine: &Machine) -> Result<String, Invalid> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| Invalid::new("cmdline", "unclosed '{' in the template"))?;
        let name = &rest[start + 1..start + end];
        out.push_str(&variable(name, vars, machine)?);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let args: Vec<&str> = out.split_whitespace().collect();
    for arg in &args {
        validate_kernel_arg("cmdline", arg)?;
    }
    Ok(args.join(" "))
}

fn variable(name: &str, vars: &Vars, machine: &Machine) -> Result<String, Invalid> {
    let missing = |what: &str| Invalid::new("cmdline", format!("{{{name}}} is used but {what}"));
    match name {
        "zerotier" => vars
            .zerotier
            .map(str::to_owned)
            .ok_or_else(|| missing("no ZeroTier network is configured")),
        "orchestrator" => Ok(vars.orchestrator.to_owned()),
        "mac" => machine
            .mac
            .map(str::to_owned)
            .ok_or_else(|| missing("the machine sent no MAC")),
        "node" => machine
            .mac
            .map(|mac| mac.replace(':', ""))
            .ok_or_else(|| missing("the machine sent no MAC")),
        _ => match name.strip_prefix("label:") {
            Some(key) => machine
                .node
                .and_then(|node| node.labels.get(key))
                .cloned()
                .ok_or_else(|| missing(&format!("the machine's node has no label '{key}'"))),
            None => Err(Invalid::new("cmdline", format!("unknown variable {{{name}}}"))),
        },
    }
}

/// Checks a template without a machine: variables known, literal parts safe.
pub fn check_template(template: &str) -> Result<(), Invalid> {
    let node = Node {
        id: "000000000000".into(),
        hostname: String::new(),
        address: String::new(),
        labels: Default::default(),
        emulated: false,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let vars = Vars {
        zerotier: Some("0000000000000000"),
        orchestrator: "http://host",
    };
    let machine = Machine {
        mac: Some("00:00:00:00:00:00"),
        platform: None,
        node: Some(&node),
    };
    // Labels are only known at boot; check the rest with a placeholder value.
    let template = strip_label_variables(template);
    render_cmdline(&template, &vars, &machine).map(drop)
}

fn strip_label_variables(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{label:") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => {
                // An invalid key becomes a character the argument check refuses.
                let key = &rest[start + 7..start + end];
                let valid = crate::model::validate_labels("cmdline", &[(key.to_owned(), String::new())].into()).is_ok();
                out.push(if valid { 'x' } else { '$' });
                rest = &rest[start + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The script that boots a kernel with its initrds (`(name, url)` pairs).
pub fn kernel_script(title: &str, kernel_url: &str, initrds: &[(String, String)], cmdline: &str, efi: bool) -> String {
    // EFI kernels find their initrds by name on the command line; BIOS kernels get them from the loader.
    let mut args: Vec<String> = if efi {
        initrds.iter().map(|(name, _)| format!("initrd={name}")).collect()
    } else {
        vec![]
    };
    if !cmdline.is_empty() {
        args.push(cmdline.to_owned());
    }
    let mut script = format!(
        "#!ipxe\necho zos-orchestrator: {title}\nkernel {kernel_url} {}",
        args.join(" ")
    );
    script = script.trim_end().to_owned() + " || goto failed\n";
    for (name, url) in initrds {
        script.push_str(&format!("initrd --name {name} {url} || goto failed\n"));
    }
    script.push_str(
        "boot || goto failed\n:failed\necho zos-orchestrator: boot failed, rebooting in 10 s\nsleep 10\nreboot\n",
    );
    script
}

/// A machine that has nothing to boot yet waits and asks again, so it boots as soon as an operator assigns it.
pub fn waiting_script(reason: &str, retry_url: &str) -> String {
    format!(
        "#!ipxe\necho zos-orchestrator: {reason}\necho zos-orchestrator: asking again in 30 s\nsleep 30\n\
         chain {retry_url}?{MACHINE_QUERY} || reboot\n"
    )
}
