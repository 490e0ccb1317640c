//! A believable machine, derived from a seed: the same seed always gives the same hardware, and its load moves
//! over time, so the UI and the heartbeat have something real-looking to show.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// splitmix64: tiny, fast, and stable across versions (the inventory must not change with a crate upgrade).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Disk {
    pub name: String,
    pub kind: &'static str,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub seed: u64,
    pub mac: String,
    pub hostname: String,
    pub cpu_model: &'static str,
    pub cores: u32,
    pub mhz: u32,
    pub memory: u64,
    pub disks: Vec<Disk>,
    pub zerotier_ip: String,
    pub booted_at: u64,
}

const GIB: u64 = 1 << 30;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Inventory {
    pub fn from_seed(seed: u64) -> Inventory {
        let mut rng = Rng(seed);
        // Locally administered unicast MAC (0x02 bit set), unique per seed.
        let tail = rng.next();
        let mac = format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            (tail >> 32) as u8,
            (tail >> 24) as u8,
            (tail >> 16) as u8,
            (tail >> 8) as u8,
            tail as u8
        );
        let cpu_model = *rng.pick(&[
            "Intel(R) Xeon(R) CPU E5-2620 v4 @ 2.10GHz",
            "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
            "AMD EPYC 7302P 16-Core Processor",
        ]);
        let cores = *rng.pick(&[8, 16, 24, 32]);
        let memory = *rng.pick(&[32, 64, 128, 256]) * GIB;
        let mut disks = Vec::new();
        // At least an SSD and two HDDs: three emulated nodes hold a six-engine HDD storage cluster.
        for (i, kind) in ["ssd", "hdd", "hdd", "nvme", "ssd", "archive"]
            .iter()
            .enumerate()
            .take(3 + (rng.next() % 3) as usize)
        {
            let size = match *kind {
                "nvme" => *rng.pick(&[512, 1024, 2048]),
                "ssd" => *rng.pick(&[240, 480, 960]),
                _ => *rng.pick(&[2000, 4000, 8000]),
            } * GIB;
            let name = if *kind == "nvme" {
                format!("nvme{i}n1")
            } else {
                format!("sd{}", (b'a' + i as u8) as char)
            };
            disks.push(Disk { name, kind, size });
        }
        let hostid = mac.replace(':', "");
        Inventory {
            seed,
            hostname: format!("zero-os-{hostid}"),
            zerotier_ip: format!("10.147.{}.{}", 1 + (seed / 250) % 250, 1 + seed % 250),
            mac,
            cpu_model,
            cores,
            mhz: *rng.pick(&[2100, 2200, 3000]),
            memory,
            disks,
            booted_at: now_secs(),
        }
    }

    /// The node id 0-orchestrator uses: the MAC without colons.
    pub fn node_id(&self) -> String {
        self.mac.replace(':', "")
    }

    /// CPU use in percent, drifting slowly and differently per node.
    pub fn cpu_percent(&self, core: u32) -> f64 {
        let t = now_secs() as f64 / 30.0 + self.seed as f64 * 1.7 + f64::from(core);
        5.0 + 40.0 * (t.sin() * 0.5 + 0.5)
    }

    pub fn memory_used(&self) -> u64 {
        let t = now_secs() as f64 / 120.0 + self.seed as f64;
        (self.memory as f64 * (0.2 + 0.3 * (t.cos() * 0.5 + 0.5))) as u64
    }

    // The shapes below follow what 0-core returns (gopsutil's structures, and lsblk's for disk.list).

    pub fn cpu_info(&self) -> Value {
        (0..self.cores)
            .map(|cpu| {
                json!({"cpu": cpu, "vendorId": if self.cpu_model.contains("AMD") { "AuthenticAMD" } else { "GenuineIntel" },
                       "family": "6", "model": "79", "stepping": 1, "physicalId": "0", "coreId": cpu.to_string(),
                       "cores": 1, "modelName": self.cpu_model, "mhz": self.mhz, "cacheSize": 20480, "flags": []})
            })
            .collect()
    }

    pub fn mem_info(&self) -> Value {
        let used = self.memory_used();
        let available = self.memory - used;
        let (buffers, cached) = (available / 16, available / 4);
        json!({"total": self.memory, "available": available, "used": used,
               "usedPercent": used as f64 * 100.0 / self.memory as f64, "free": available - buffers - cached,
               "active": used / 2 + cached / 2, "inactive": used / 2 + cached / 2, "buffers": buffers, "cached": cached,
               "wired": 0})
    }

    pub fn disk_list(&self) -> Value {
        let devices: Vec<Value> = self
            .disks
            .iter()
            .map(|d| {
                json!({"name": d.name, "kname": d.name, "size": d.size, "type": "disk",
                       "rota": matches!(d.kind, "hdd" | "archive"), "tran": if d.kind == "nvme" { "nvme" } else { "sata" },
                       "model": format!("Emulated {} disk", d.kind.to_uppercase()), "children": []})
            })
            .collect();
        json!({"blockdevices": devices})
    }

    pub fn partitions(&self) -> Value {
        json!([{"device": "none", "mountpoint": "/", "fstype": "tmpfs", "opts": "rw"}])
    }

    pub fn nic_info(&self) -> Value {
        json!([
            {"name": "lo", "hardwareaddr": "", "mtu": 65536, "flags": ["up", "loopback"], "addrs": [{"addr": "127.0.0.1/8"}]},
            {"name": "eth0", "hardwareaddr": self.mac, "mtu": 1500, "flags": ["up", "broadcast", "multicast"], "addrs": []},
            {"name": "zt0", "hardwareaddr": "", "mtu": 2800, "flags": ["up"], "addrs": [{"addr": format!("{}/16", self.zerotier_ip)}]}
        ])
    }

    /// What 0-core's `aggregator.query` returns: per key (`<metric>/<tag>`), the 5-minute and 1-hour windows.
    pub fn stats(&self) -> Value {
        let now = now_secs();
        let window = |value: f64| {
            let summary = |span: u64| {
                json!({"avg": value, "count": span / 10, "max": value * 1.2, "start": now - now % span,
                       "total": value * (span / 10) as f64})
            };
            json!({"current": {"300": summary(300), "3600": summary(3600)}})
        };
        let mut stats = serde_json::Map::new();
        for core in 0..self.cores {
            stats.insert(format!("machine.CPU.percent/{core}"), window(self.cpu_percent(core)));
        }
        stats.insert(
            "machine.memory.ram.available".into(),
            window((self.memory - self.memory_used()) as f64 / 1048576.0),
        );
        let traffic = self.cpu_percent(0) * 1_000_000.0;
        stats.insert("machine.network.throughput.incoming/eth0".into(), window(traffic));
        stats.insert("machine.network.throughput.outgoing/eth0".into(), window(traffic / 3.0));
        // 0-core's own monitors, which the reference's health checks read.
        let busy = self.cpu_percent(0) / 100.0;
        stats.insert("machine.CPU.contextswitch".into(), window(20_000.0 + 200_000.0 * busy));
        stats.insert("machine.CPU.interrupts".into(), window(8_000.0 + 40_000.0 * busy));
        stats.insert(
            "machine.process.threads".into(),
            window(f64::from(self.cores) * (60.0 + 40.0 * busy)),
        );
        Value::Object(stats)
    }

    pub fn os_info(&self) -> Value {
        let now = now_secs();
        json!({"hostname": self.hostname, "uptime": now - self.booted_at, "bootTime": self.booted_at, "procs": 42,
               "os": "linux", "platform": "zero-os", "platformFamily": "zero-os", "platformVersion": "1.1.0-emulated",
               "kernelVersion": "4.14.0-emulated", "virtualizationSystem": "", "virtualizationRole": "", "hostid": self.node_id()})
    }
}
