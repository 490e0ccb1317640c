//! 0-orchestrator's response types, transcribed from its `raml/types.raml`: each type's properties with their
//! JSON types. RAML 1.0 makes a property required unless it says otherwise; those that say so are written here
//! with a trailing `?`. `check` lists every place a response does not fit, so one run shows all of them.

use serde_json::Value;

/// A property's JSON type as the RAML declares it.
pub enum Ty {
    Str,
    /// `integer`, or `number` with an integer `format`.
    Int,
    /// `number` (float).
    Num,
    Bool,
    Enum(&'static [&'static str]),
    Array(&'static Ty),
    /// Another type of this table, by name.
    Obj(&'static str),
    /// Declared without a type.
    Any,
}

use Ty::*;

const VM_STATUS: &[&str] = &[
    "deploying",
    "running",
    "halted",
    "paused",
    "halting",
    "migrating",
    "starting",
    "error",
    "networkKilled",
];
const PROFILES: &[&str] = &["raid0", "raid1", "raid5", "raid6", "raid10", "dup", "single"];
const JOB_STATES: &[&str] = &[
    "unknown_cmd",
    "error",
    "success",
    "killed",
    "timeout",
    "duplicate_id",
    "running",
];

const DRIVE_TYPES: &[&str] = &["nvme", "ssd", "hdd", "archive"];
const VDISK_STATUS: &[&str] = &["running", "halted", "rollingback"];
const VDISK_TYPES: &[&str] = &["boot", "db", "cache", "tmp"];

type Properties = &'static [(&'static str, Ty)];

pub const TYPES: &[(&str, Properties)] = &[
    (
        "Node",
        &[
            ("id", Str),
            ("ipaddress", Str),
            ("status", Enum(&["running", "halted"])),
            ("hostname", Str),
        ],
    ),
    (
        "CPUInfo",
        &[
            ("cacheSize", Int),
            ("cores", Int),
            ("family", Str),
            ("flags", Array(&Str)),
            ("mhz", Num),
        ],
    ),
    (
        "MemInfo",
        &[
            ("active", Int),
            ("available", Int),
            ("buffers", Int),
            ("cached", Int),
            ("free", Int),
            ("inactive", Int),
            ("total", Int),
            ("used", Int),
            ("usedPercent", Num),
            ("wired", Int),
        ],
    ),
    (
        "OSInfo",
        &[
            ("bootTime", Int),
            ("hostname", Str),
            ("os", Str),
            ("platform", Str),
            ("platformFamily", Str),
            ("platformVersion", Str),
            ("procs", Int),
            ("uptime", Int),
            ("virtualizationRole", Str),
            ("virtualizationSystem", Str),
        ],
    ),
    (
        "NicInfo",
        &[
            ("addrs", Array(&Str)),
            ("flags", Array(&Str)),
            ("hardwareaddr", Str),
            ("mtu", Int),
            ("name", Str),
        ],
    ),
    (
        "DiskInfo",
        &[
            ("device", Str),
            ("size", Int),
            ("type", Enum(&["ssd", "nvme", "hdd", "archive"])),
            ("partitions", Array(&Obj("DiskPartition"))),
        ],
    ),
    (
        "DiskPartition",
        &[
            ("name", Str),
            ("size", Int),
            ("partuuid", Str),
            ("label", Str),
            ("fstype", Str),
        ],
    ),
    (
        "NodeMount",
        &[("mountpoint", Str), ("device", Str), ("opts", Str), ("fstype", Str)],
    ),
    ("JobListItem", &[("id", Str), ("startTime", Int)]),
    (
        "JobResult",
        &[
            ("id", Str),
            // An enum of the command names of its day; 0-core has more now.
            ("name", Str),
            ("level", Int),
            ("startTime", Int),
            ("stdout", Str),
            ("stderr", Str),
            ("state", Enum(JOB_STATES)),
            ("data", Str),
        ],
    ),
    (
        "CoreStateResult",
        &[("cpu", Num), ("rss", Int), ("vms", Int), ("swap", Int)],
    ),
    (
        "CPUStats",
        &[
            ("user", Num),
            ("system", Num),
            ("idle", Num),
            ("nice", Num),
            ("ioWait", Num),
            ("irq", Num),
            ("softIrq", Num),
            ("steal", Num),
            ("guestNice", Num),
            ("stolen", Num),
        ],
    ),
    (
        "Process",
        &[
            ("cmdline", Str),
            ("cpu", Obj("CPUStats")),
            ("pid", Int),
            ("rss", Int),
            ("swap", Int),
            ("vms", Int),
        ],
    ),
    (
        "Bridge",
        &[
            ("name", Str),
            ("setting", Obj("BridgeCreateSetting")),
            ("status", Enum(&["up", "down"])),
        ],
    ),
    ("BridgeCreateSetting", &[("cidr", Str), ("start", Str), ("end", Str)]),
    (
        "ZerotierRoute",
        &[("flags", Int), ("metric", Int), ("target", Str), ("via", Str)],
    ),
    (
        "ZerotierListItem",
        &[
            ("name", Str),
            ("nwid", Str),
            ("status", Str),
            ("type", Enum(&["public", "private"])),
        ],
    ),
    (
        "Zerotier",
        &[
            ("allowDefault", Bool),
            ("allowGlobal", Bool),
            ("allowManaged", Bool),
            ("assignedAddresses", Array(&Str)),
            ("bridge", Bool),
            ("broadcastEnabled", Bool),
            ("dhcp", Bool),
            ("mac", Str),
            ("mtu", Int),
            ("name", Str),
            ("netconfRevision", Int),
            ("nwid", Str),
            ("portDeviceName", Str),
            ("portError", Int),
            ("routes", Array(&Obj("ZerotierRoute"))),
            ("status", Str),
            ("type", Enum(&["public", "private"])),
        ],
    ),
    (
        "StoragePoolListItem",
        &[
            ("name", Str),
            ("capacity", Any),
            ("status", Enum(&["healthy", "degraded", "error", "unknown"])),
        ],
    ),
    (
        "StoragePool",
        &[
            ("name", Str),
            ("status", Enum(&["healthy", "degraded", "error", "unknown"])),
            ("totalCapacity", Int),
            ("capacity", Int),
            ("metadataProfile", Enum(PROFILES)),
            ("dataProfile", Enum(PROFILES)),
            ("mountpoint", Str),
        ],
    ),
    (
        "StoragePoolDevice",
        &[
            ("deviceName", Str),
            ("uuid", Str),
            ("status", Enum(&["healthy", "removing"])),
        ],
    ),
    (
        "Filesystem",
        &[
            ("name", Str),
            ("parent", Str),
            ("sizeOnDisk", Int),
            ("readOnly", Bool),
            ("quota", Int),
            ("mountpoint", Any),
        ],
    ),
    ("Snapshot", &[("name", Str), ("sizeOnDisk", Int), ("timestamp", Int)]),
    (
        "ContainerListItem",
        &[
            ("name", Str),
            ("hostname", Str),
            ("flist", Str),
            ("status", Enum(&["running", "halted", "networkKilled"])),
        ],
    ),
    (
        "Container",
        &[
            ("status", Enum(&["running", "halted", "networkKilled"])),
            ("hostname", Str),
            ("zerotiernodeid?", Str),
            ("flist", Str),
            ("initprocesses", Array(&Obj("CoreSystem"))),
            ("filesystems", Array(&Str)),
            ("nics", Array(&Obj("ContainerNIC"))),
            ("hostNetworking", Bool),
            ("ports", Array(&Str)),
            ("storage", Str),
        ],
    ),
    (
        "ContainerNIC",
        &[
            ("type", Enum(&["zerotier", "vxlan", "vlan", "default", "bridge"])),
            ("id", Str),
            ("name?", Str),
            ("hwaddr?", Str),
            ("config?", Any),
            ("status", Enum(&["up", "down"])),
            ("token?", Str),
        ],
    ),
    (
        "CoreSystem",
        &[
            ("name", Str),
            ("pwd?", Str),
            ("args?", Array(&Str)),
            ("environment?", Array(&Str)),
            ("stdin?", Str),
        ],
    ),
    ("VMListItem", &[("id", Str), ("status", Enum(VM_STATUS))]),
    (
        "VM",
        &[
            ("id", Str),
            ("status", Enum(VM_STATUS)),
            ("vnc", Int),
            ("memory", Int),
            ("cpu", Int),
            ("nics", Array(&Obj("NicLink"))),
            ("disks", Array(&Obj("VDiskLink"))),
        ],
    ),
    (
        "NicLink",
        &[
            ("id?", Str),
            ("type", Enum(&["vlan", "vxlan", "default", "bridge"])),
            ("macaddress?", Str),
        ],
    ),
    ("VDiskLink", &[("vdiskid", Str), ("maxIOps", Int)]),
    ("FTPUrl", &[("url", Str)]),
    (
        "VMDiskInfo",
        &[
            ("readIops", Int),
            ("writeIops", Int),
            ("readThroughput", Int),
            ("writeThroughput", Int),
        ],
    ),
    (
        "VMNicInfo",
        &[
            ("receivedPackets", Int),
            ("transmittedPackets", Int),
            ("receivedThroughput", Int),
            ("transmittedThroughput", Int),
        ],
    ),
    (
        "VMInfo",
        &[
            ("disks", Array(&Obj("VMDiskInfo"))),
            ("nics", Array(&Obj("VMNicInfo"))),
            ("cpu", Array(&Num)),
        ],
    ),
    ("NodeHealthCheck", &[("id", Str), ("status", Str), ("hostname", Str)]),
    (
        "HealthCheck",
        &[
            ("id", Str),
            ("name", Str),
            ("resource", Str),
            ("messages", Array(&Obj("Message"))),
            ("category", Str),
            ("interval", Num),
            ("lasttime", Num),
            ("stacktrace", Str),
        ],
    ),
    ("Message", &[("id", Str), ("status", Str), ("text", Str)]),
    ("StorageClusterHealthCheck", &[("label", Str), ("status", Str)]),
    (
        "StorageServer",
        &[
            ("id", Int),
            ("ip", Str),
            ("port", Int),
            ("container", Str),
            ("status", Enum(&["ready", "error"])),
        ],
    ),
    (
        "Cluster",
        &[
            ("label", Str),
            ("status", Enum(&["empty", "deploying", "ready", "error"])),
            ("driveType", Enum(DRIVE_TYPES)),
            ("nodes", Array(&Str)),
            ("storageServers", Array(&Obj("StorageServer"))),
            ("clusterType", Str),
        ],
    ),
    (
        "VdiskStorage",
        &[
            ("id", Str),
            ("blockCluster", Str),
            ("slaveCluster?", Str),
            ("objectCluster?", Str),
        ],
    ),
    (
        "Vdisk",
        &[
            ("id", Str),
            ("status", Enum(VDISK_STATUS)),
            ("size", Int),
            ("blocksize", Int),
            ("type", Enum(VDISK_TYPES)),
            ("readOnly?", Bool),
            ("templatevdisk?", Str),
            ("vdiskstorage", Str),
        ],
    ),
    (
        "VdiskListItem",
        &[
            ("id", Str),
            ("status", Enum(VDISK_STATUS)),
            ("type", Enum(VDISK_TYPES)),
            ("vdiskstorage", Str),
        ],
    ),
    (
        "Webhook",
        &[("name", Str), ("url", Str), ("eventtypes", Array(&Enum(&["ork"])))],
    ),
    (
        "PortForward",
        &[
            ("protocols", Array(&Enum(&["tcp", "udp"]))),
            ("srcport", Int),
            ("srcip", Str),
            ("dstport", Int),
            ("dstip", Str),
        ],
    ),
    (
        "HTTPProxy",
        &[
            ("host", Str),
            ("destinations", Array(&Str)),
            ("types", Array(&Enum(&["http", "https"]))),
        ],
    ),
    ("CloudInit", &[("userdata", Str), ("metadata", Str)]),
    (
        "GWHost",
        &[
            ("macaddress", Str),
            ("hostname", Str),
            ("ipaddress", Str),
            ("ip6address?", Str),
            ("cloudinit?", Obj("CloudInit")),
        ],
    ),
    (
        "DHCP",
        &[("nameservers?", Array(&Str)), ("hosts", Array(&Obj("GWHost")))],
    ),
    ("ZerotierBridge", &[("id", Str), ("token?", Str)]),
    (
        "GWNIC",
        &[
            ("type", Enum(&["zerotier", "vxlan", "vlan", "default", "bridge"])),
            ("id", Str),
            ("token?", Str),
            ("zerotierbridge?", Obj("ZerotierBridge")),
            ("config?", Any),
            ("name", Str),
            ("dhcpserver?", Obj("DHCP")),
        ],
    ),
    (
        "ListGW",
        &[
            ("name", Str),
            ("domain", Str),
            ("nics", Array(&Obj("GWNIC"))),
            ("portforwards?", Array(&Obj("PortForward"))),
            ("httpproxies?", Array(&Obj("HTTPProxy"))),
            ("zerotiernodeid?", Str),
        ],
    ),
    (
        "GetGW",
        &[
            ("domain", Str),
            ("nics", Array(&Obj("GWNIC"))),
            ("portforwards?", Array(&Obj("PortForward"))),
            ("httpproxies?", Array(&Obj("HTTPProxy"))),
            ("zerotiernodeid?", Str),
            ("status", Enum(&["running", "halted"])),
        ],
    ),
];

fn properties(name: &str) -> Properties {
    TYPES
        .iter()
        .find(|(type_name, _)| *type_name == name)
        .unwrap_or_else(|| panic!("no reference type '{name}' in the table"))
        .1
}

/// Where `value` (at `at`) does not fit `ty`.
fn check_value(ty: &Ty, value: &Value, at: &str, misfits: &mut Vec<String>) {
    let fits = match ty {
        Str => value.is_string(),
        Int => value.is_i64() || value.is_u64(),
        Num => value.is_number(),
        Bool => value.is_boolean(),
        Any => true,
        Enum(allowed) => value.as_str().is_some_and(|v| allowed.contains(&v)),
        Array(item) => match value.as_array() {
            Some(items) => {
                for (i, item_value) in items.iter().enumerate() {
                    check_value(item, item_value, &format!("{at}[{i}]"), misfits);
                }
                true
            }
            None => false,
        },
        Obj(name) => {
            if value.is_object() {
                check_object(name, value, at, misfits);
            }
            value.is_object()
        }
    };
    if !fits {
        let wanted = match ty {
            Str => "a string".to_owned(),
            Int => "an integer".to_owned(),
            Num => "a number".to_owned(),
            Bool => "a boolean".to_owned(),
            Enum(allowed) => format!("one of {allowed:?}"),
            Array(_) => "an array".to_owned(),
            Obj(name) => format!("a {name} object"),
            Any => unreachable!(),
        };
        misfits.push(format!("{at} is {value}, not {wanted}"));
    }
}

fn check_object(name: &str, value: &Value, at: &str, misfits: &mut Vec<String>) {
    for (property, ty) in properties(name) {
        let (field, optional) = match property.strip_suffix('?') {
            Some(field) => (field, true),
            None => (*property, false),
        };
        match value.get(field) {
            None if optional => {}
            None => misfits.push(format!("{at} ({name}) lacks '{field}'")),
            Some(found) => check_value(ty, found, &format!("{at}.{field}"), misfits),
        }
    }
}

/// Where `value` does not fit the reference's type `name` (`Name[]`: an array of them; `string[]`); empty when
/// it fits.
pub fn misfits(name: &'static str, value: &Value) -> Vec<String> {
    let mut misfits = Vec::new();
    match name.strip_suffix("[]") {
        Some("string") => check_value(&Array(&Str), value, "(top)", &mut misfits),
        Some(item) => match value.as_array() {
            Some(items) => {
                for (i, item_value) in items.iter().enumerate() {
                    check_value(&Obj(item), item_value, &format!("[{i}]"), &mut misfits);
                }
            }
            None => misfits.push(format!("expected {name}, got {value}")),
        },
        None => check_value(&Obj(name), value, "(top)", &mut misfits),
    }
    misfits
}
