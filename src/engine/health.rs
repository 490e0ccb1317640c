//! Node health: what one heartbeat read about a node ([`Readings`], from [`read`]) judged against the
//! configured thresholds (`--health-*`) as the reference's health checks ([`assess`], pure, so the judgement is
//! unit-tested), and stored when a verdict changes or with the node's status ([`record`]).

use serde_json::Value;

use crate::model::health::{HealthCheck, HealthMessage, HealthStatus, NodeHealth};
use crate::store::{Expect, Store};
use crate::zos::ZosClient;
use crate::zos::commands::Info;

/// A warning and an error level: a value at or above one gets its status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub warning: f64,
    pub error: f64,
}

impl Levels {
    fn judge(&self, value: f64) -> HealthStatus {
        if value >= self.error {
            HealthStatus::Error
        } else if value >= self.warning {
            HealthStatus::Warning
        } else {
            HealthStatus::Ok
        }
    }
}

/// The thresholds of every check: percentages, seconds for the clock, and counts for the node's own monitors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub disk: Levels,
    pub memory: Levels,
    pub cpu: Levels,
    pub time_drift: Levels,
    /// Context switches per second.
    pub context_switch: Levels,
    /// Interrupts per second.
    pub interrupts: Levels,
    /// Threads per hyperthread.
    pub threads: Levels,
}

/// What a heartbeat read: `Err(why)` where the node did not answer that question.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// `Some(why)` when the node did not answer at all.
    pub unreachable: Option<String>,
    /// Percent of memory in use.
    pub memory: Option<Result<f64, String>>,
    /// Mean CPU load over the last five minutes, percent, over all cores.
    pub cpu: Option<Result<f64, String>>,
    /// Each storage pool's label and percent used.
    pub pools: Option<Result<Vec<(String, f64)>, String>>,
    /// The node's clock minus ours, seconds.
    pub time_drift: Option<Result<f64, String>>,
    /// What the node's own monitors report to its aggregator.
    pub monitors: Option<Result<Monitors, String>>,
}

/// The node's own monitors, as 0-core's aggregator keeps them (five-minute means); `None` for one the node does
/// not run. The reference's health checks of the same names judged these.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Monitors {
    /// `machine.CPU.contextswitch`, per second.
    pub context_switches: Option<f64>,
    /// `machine.CPU.interrupts`, per second.
    pub interrupts: Option<f64>,
    /// `machine.process.threads` over the number of hyperthreads (`machine.CPU.percent/<n>` keys).
    pub threads_per_cpu: Option<f64>,
}

/// The checks of node `node` from `readings`; `interval` and `now` (epoch seconds) as the checks report them.
pub fn assess(node: &str, readings: &Readings, thresholds: &Thresholds, interval: f64, now: f64) -> Vec<HealthCheck> {
    let check = |id: &str, name: &str, category: &str, messages: Vec<HealthMessage>| HealthCheck {
        id: id.to_owned(),
        name: name.to_owned(),
        resource: format!("/nodes/{node}"),
        category: category.to_owned(),
        status: messages.iter().map(|m| m.status).max().unwrap_or(HealthStatus::Skipped),
        messages,
        interval,
        lasttime: now,
        stacktrace: String::new(),
    };
    let unreachable = readings.unreachable.is_some();
    let measure = |id: &str, reading: &Option<Result<f64, String>>, levels: &Levels, text: &dyn Fn(f64) -> String| {
        let message = match (missing(unreachable, reading.as_ref()), reading) {
            (None, Some(Ok(value))) => message(id, levels.judge(*value), text(*value)),
            (why, _) => message(id, HealthStatus::Skipped, why.unwrap_or_default()),
        };
        vec![message]
    };
    let reachability = match &readings.unreachable {
        None => message("reachable", HealthStatus::Ok, "0-core answers".to_owned()),
        Some(why) => message(
            "reachable",
            HealthStatus::Error,
            format!("0-core does not answer: {why}"),
        ),
    };
    let disks = match (missing(unreachable, readings.pools.as_ref()), &readings.pools) {
        (None, Some(Ok(pools))) if pools.is_empty() => {
            vec![message(
                "pools",
                HealthStatus::Ok,
                "no storage pools to fill".to_owned(),
            )]
        }
        (None, Some(Ok(pools))) => pools
            .iter()
            .map(|(label, used)| {
                let text = format!("storage pool {label} is {used:.1}% full");
                message(&format!("{label}_usage"), thresholds.disk.judge(*used), text)
            })
            .collect(),
        (why, _) => vec![message("pools", HealthStatus::Skipped, why.unwrap_or_default())],
    };
    let drift = readings.time_drift.clone().map(|r| r.map(f64::abs));
    let monitor = |pick: fn(&Monitors) -> Option<f64>, key: &str| {
        readings.monitors.clone().map(|reading| {
            reading.and_then(|monitors| pick(&monitors).ok_or_else(|| format!("the node reports no {key}")))
        })
    };
    vec![
        check("reachability", "Reachability", "Network", vec![reachability]),
        check(
            "memory",
            "Memory Usage",
            "Hardware",
            measure("memory", &readings.memory, &thresholds.memory, &|v| {
                format!("{v:.1}% of memory in use")
            }),
        ),
        check(
            "cpu",
            "CPU Load",
            "Hardware",
            measure("cpu", &readings.cpu, &thresholds.cpu, &|v| {
                format!("CPU load {v:.1}% (5-minute mean)")
            }),
        ),
        check("disk-usage", "Disk Usage", "Hardware", disks),
        check(
            "time-drift",
            "Time Drift",
            "System",
            measure("clock", &drift, &thresholds.time_drift, &|v| {
                format!("the node's clock is {v:.0} s off")
            }),
        ),
        check(
            "context-switch",
            "Context Switch",
            "Hardware",
            measure(
                "context-switch",
                &monitor(|m| m.context_switches, "machine.CPU.contextswitch"),
                &thresholds.context_switch,
                &|v| format!("{v:.0} context switches per second (5-minute mean)"),
            ),
        ),
        check(
            "interrupts",
            "CPU Interrupts",
            "Hardware",
            measure(
                "interrupts",
                &monitor(|m| m.interrupts, "machine.CPU.interrupts"),
                &thresholds.interrupts,
                &|v| format!("{v:.0} interrupts per second (5-minute mean)"),
            ),
        ),
        check(
            "threads",
            "Node thread per hyperthread",
            "System Load",
            measure(
                "threads",
                &monitor(|m| m.threads_per_cpu, "machine.process.threads"),
                &thresholds.threads,
                &|v| format!("{v:.0} threads per hyperthread (5-minute mean)"),
            ),
        ),
    ]
}

/// Why a check has no value to judge; `None`: it has one.
fn missing<T>(unreachable: bool, reading: Option<&Result<T, String>>) -> Option<String> {
    match (unreachable, reading) {
        (true, _) => Some("not measured: the node does not answer".to_owned()),
        (false, None) => Some("not measured yet".to_owned()),
        (false, Some(Err(why))) => Some(format!("not measured: {why}")),
        (false, Some(Ok(_))) => None,
    }
}

fn message(id: &str, status: HealthStatus, text: String) -> HealthMessage {
    HealthMessage {
        id: id.to_owned(),
        status,
        text,
    }
}

/// Reads what the checks judge from a node that answered `os` (its `info.os`): memory, the CPU load and the
/// node's own monitors (one aggregator query), the storage pools' use, and its clock. Each reading fails alone (a
/// node without the aggregator still has its memory judged).
pub async fn read(client: &ZosClient, os: &Value) -> Readings {
    let node = client.node();
    let memory = node.info::<Value>(Info::Mem).await.map(|mem| {
        let total = mem["total"].as_f64().unwrap_or(0.0);
        (total > 0.0).then(|| mem["used"].as_f64().unwrap_or(0.0) * 100.0 / total)
    });
    let stats = node.info::<Value>(Info::Stats).await.map_err(|e| e.to_string());
    let pools = client
        .btrfs_pools()
        .await
        .map(|pools| pools.iter().filter_map(pool_use).collect());
    let clock = os["bootTime"].as_f64().zip(os["uptime"].as_f64());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let unmeasured = || "the node did not say".to_owned();
    Readings {
        unreachable: None,
        memory: Some(memory.map_err(|e| e.to_string()).and_then(|m| m.ok_or_else(unmeasured))),
        cpu: Some(stats.clone().and_then(|s| cpu_load(&s).ok_or_else(unmeasured))),
        monitors: Some(stats.map(|s| monitors(&s))),
        pools: Some(pools.map_err(|e| e.to_string())),
        time_drift: Some(clock.map(|(boot, up)| boot + up - now).ok_or_else(unmeasured)),
    }
}

/// The mean over all cores of the aggregator's five-minute CPU percentages (`machine.CPU.percent/<core>`).
fn cpu_load(stats: &Value) -> Option<f64> {
    let loads: Vec<f64> = stats
        .as_object()?
        .iter()
        .filter(|(key, _)| key.starts_with("machine.CPU.percent/"))
        .filter_map(|(_, windows)| windows["current"]["300"]["avg"].as_f64())
        .collect();
    (!loads.is_empty()).then(|| loads.iter().sum::<f64>() / loads.len() as f64)
}

fn monitors(stats: &Value) -> Monitors {
    let five_minutes = |key: &str| stats[key]["current"]["300"]["avg"].as_f64();
    let hyperthreads = stats.as_object().map_or(0, |keys| {
        keys.keys()
            .filter(|key| key.starts_with("machine.CPU.percent/"))
            .count()
    });
    Monitors {
        context_switches: five_minutes("machine.CPU.contextswitch"),
        interrupts: five_minutes("machine.CPU.interrupts"),
        threads_per_cpu: five_minutes("machine.process.threads")
            .filter(|_| hyperthreads > 0)
            .map(|threads| threads / hyperthreads as f64),
    }
}

/// A `btrfs.list` entry's label and percent used.
fn pool_use(pool: &Value) -> Option<(String, f64)> {
    let size = pool["size"].as_f64().filter(|size| *size > 0.0)?;
    let used = pool["used"].as_f64()?;
    Some((pool["label"].as_str()?.to_owned(), used * 100.0 / size))
}

/// Stores `checks` for `node` when a verdict changed (or none was stored), or `refresh` says the node's status
/// was written this round anyway (so `lasttime` stays as fresh as the node's `lastSeen`).
pub async fn record(store: &Store, node: &str, checks: Vec<HealthCheck>, refresh: bool) -> crate::store::Result<()> {
    let previous = store.get::<NodeHealth>(node)?;
    let verdicts = |checks: &[HealthCheck]| checks.iter().map(|c| (c.id.clone(), c.status)).collect::<Vec<_>>();
    let changed = previous
        .as_ref()
        .is_none_or(|p| verdicts(&p.value.checks) != verdicts(&checks));
    if !changed && !refresh {
        return Ok(());
    }
    let expect = Expect::after(previous.as_ref());
    let health = NodeHealth {
        node: node.to_owned(),
        checks,
    };
    match store.put(health, expect).await {
        // Lost a race with a previous round still writing: the next round writes again.
        Err(crate::store::StoreError::VersionMismatch { .. } | crate::store::StoreError::AlreadyExists { .. }) => {
            Ok(())
        }
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults: disk and memory 90/95 %, CPU 80/95 %, clock 5/30 s.
    const THRESHOLDS: Thresholds = crate::config::DEFAULT_HEALTH;

    fn statuses(checks: &[HealthCheck]) -> Vec<(&str, HealthStatus)> {
        checks.iter().map(|c| (c.id.as_str(), c.status)).collect()
    }

    #[test]
    fn each_reading_is_judged_against_its_levels() {
        let readings = Readings {
            unreachable: None,
            memory: Some(Ok(91.0)),
            cpu: Some(Ok(10.0)),
            pools: Some(Ok(vec![("fast".into(), 96.0), ("slow".into(), 20.0)])),
            time_drift: Some(Ok(-40.0)),
            monitors: Some(Ok(Monitors {
                context_switches: Some(700_000.0),
                interrupts: Some(1_000.0),
                threads_per_cpu: None,
            })),
        };
        let checks = assess("n1", &readings, &THRESHOLDS, 10.0, 1000.0);
        assert_eq!(
            statuses(&checks),
            [
                ("reachability", HealthStatus::Ok),
                ("memory", HealthStatus::Warning),
                ("cpu", HealthStatus::Ok),
                ("disk-usage", HealthStatus::Error),
                ("time-drift", HealthStatus::Error),
                ("context-switch", HealthStatus::Warning),
                ("interrupts", HealthStatus::Ok),
                ("threads", HealthStatus::Skipped),
            ]
        );
        assert_eq!(
            checks[7].messages[0].text,
            "not measured: the node reports no machine.process.threads"
        );
        assert_eq!(checks[3].messages.len(), 2);
        assert_eq!(checks[3].messages[0].id, "fast_usage");
        assert_eq!((checks[0].resource.as_str(), checks[0].lasttime), ("/nodes/n1", 1000.0));
    }

    #[test]
    fn an_unreachable_node_is_an_error_and_its_other_checks_are_skipped() {
        let readings = Readings {
            unreachable: Some("connection refused".into()),
            ..Default::default()
        };
        let checks = assess("n1", &readings, &THRESHOLDS, 10.0, 1000.0);
        assert_eq!(checks[0].status, HealthStatus::Error);
        assert!(checks[1..].iter().all(|c| c.status == HealthStatus::Skipped));
        assert!(checks[0].messages[0].text.contains("connection refused"));
    }

    #[test]
    fn the_cpu_load_is_the_mean_of_the_cores_five_minute_windows() {
        let window = |avg: f64| serde_json::json!({"current": {"300": {"avg": avg}, "3600": {"avg": 99.0}}});
        let stats = serde_json::json!({
            "machine.CPU.percent/0": window(10.0),
            "machine.CPU.percent/1": window(30.0),
            "machine.memory.ram.available": window(1000.0),
        });
        assert_eq!(cpu_load(&stats), Some(20.0));
        let with_monitors = serde_json::json!({
            "machine.CPU.percent/0": window(10.0),
            "machine.CPU.percent/1": window(30.0),
            "machine.CPU.contextswitch": window(5000.0),
            "machine.process.threads": window(400.0),
        });
        assert_eq!(
            monitors(&with_monitors),
            Monitors {
                context_switches: Some(5000.0),
                interrupts: None,
                threads_per_cpu: Some(200.0),
            }
        );
        assert_eq!(cpu_load(&serde_json::json!({})), None);
        let pool = serde_json::json!({"label": "fast", "size": 200, "used": 50});
        assert_eq!(pool_use(&pool), Some(("fast".into(), 25.0)));
    }

    #[test]
    fn a_reading_the_node_refused_is_skipped_with_the_reason() {
        let readings = Readings {
            memory: Some(Err("unknown command".into())),
            ..Default::default()
        };
        let memory = &assess("n1", &readings, &THRESHOLDS, 10.0, 0.0)[1];
        assert_eq!(memory.status, HealthStatus::Skipped);
        assert_eq!(memory.messages[0].text, "not measured: unknown command");
    }
}
