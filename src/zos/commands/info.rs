//! What a 0-core reports about itself and its machine: commands without arguments whose answers the API passes on
//! as the node sent them (0-orchestrator's hardware and state endpoints), and the engine reads for inventory and
//! heartbeats. They come from several families (`info`, `disk`, `process`, `core`, `aggregator`); one enum lets
//! the API map its path segments to them, for the node and for a container alike.

use serde::de::DeserializeOwned;
use serde_json::json;

use super::Core;
use crate::zos::ZosError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    /// `info.cpu`: one entry per core.
    Cpu,
    /// `info.mem`: total, used, ….
    Mem,
    /// `info.nic`: interfaces with their MACs and addresses.
    Nic,
    /// `info.os`: host name, OS version, boot time.
    Os,
    /// `info.disk`: mounts (device, mountpoint, fstype, opts).
    Mounts,
    /// `disk.list`: block devices, in lsblk's shape.
    Disks,
    /// `process.list`.
    Processes,
    /// `core.state`: cpu, rss, vms, swap of 0-core and its processes.
    State,
    /// `info.port`: the TCP and UDP ports listening on the node (`network`, `ip`, `port`, `pid`).
    Ports,
    /// `aggregator.query`: "<metric>/<tag>" → {"current": {"300": {avg,count,max,start,total}, "3600": …}}.
    Stats,
}

impl Info {
    fn command(self) -> &'static str {
        match self {
            Info::Cpu => "info.cpu",
            Info::Mem => "info.mem",
            Info::Nic => "info.nic",
            Info::Os => "info.os",
            Info::Mounts => "info.disk",
            Info::Disks => "disk.list",
            Info::Processes => "process.list",
            Info::State => "core.state",
            Info::Ports => "info.port",
            Info::Stats => "aggregator.query",
        }
    }
}

impl Core<'_> {
    /// The report `what`, decoded as `T` (`serde_json::Value` to pass it on).
    pub async fn info<T: DeserializeOwned>(&self, what: Info) -> Result<T, ZosError> {
        self.json(what.command(), json!({})).await
    }
}
