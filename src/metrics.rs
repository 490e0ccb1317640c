//! Prometheus metrics: HTTP requests by route and status, request latency, store size and process memory.
//!
//! Exposed in the classic text format (0.0.4), which every Prometheus and `promtool` reads. Counters are
//! updated on the request path; the gauges that cost a syscall (store size, RSS) are read only when `/metrics`
//! is scraped.

use crate::model::boot::{BootOutcome, BootProtocol};
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    store_bytes: IntGauge,
    rss_bytes: IntGauge,
    boot_served: IntCounterVec,
    boot_bytes: IntCounterVec,
    boot_events_dropped: IntCounter,
    tftp_malformed: IntCounter,
    tftp_refused: IntCounter,
    dhcp_malformed: IntCounterVec,
    dhcp_ignored: IntCounterVec,
    nodes: IntGaugeVec,
    engine_leader: IntGaugeVec,
    engine_leader_since: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let registry = Registry::new_custom(Some("zos".into()), None).expect("a valid prefix");
        let counter = |name: &str, help: &str| registered(&registry, IntCounter::new(name, help));
        let counters = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntGaugeVec::new(Opts::new(name, help), labels))
        };
        let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help));
        // 100 µs … ~1.6 s: API reads sit at the low end, long uploads at the top.
        let buckets = prometheus::exponential_buckets(0.0001, 2.0, 15).expect("valid buckets");
        Metrics {
            requests: counters(
                "http_requests_total",
                "HTTP requests by method, route and status",
                &["method", "route", "status"],
            ),
            latency: registered(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route")
                        .buckets(buckets),
                    &["route"],
                ),
            ),
            store_bytes: gauge("store_size_bytes", "Bytes the state store takes on disk"),
            rss_bytes: gauge("process_resident_memory_bytes", "Resident set size of this process"),
            boot_served: counters(
                "boot_files_served_total",
                "Boot files and scripts served, by protocol and outcome",
                &["protocol", "outcome"],
            ),
            boot_bytes: counters("boot_bytes_served_total", "Boot bytes sent, by protocol", &["protocol"]),
            boot_events_dropped: counter(
                "boot_events_dropped_total",
                "Boot events not recorded because the recorder queue was full",
            ),
            tftp_malformed: counter("tftp_malformed_packets_total", "Malformed TFTP packets dropped"),
            tftp_refused: counter("tftp_write_requests_refused_total", "TFTP write requests refused"),
            dhcp_malformed: counters(
                "proxy_dhcp_malformed_packets_total",
                "Malformed DHCP packets the proxyDHCP server dropped, by reason",
                &["reason"],
            ),
            dhcp_ignored: counters(
                "proxy_dhcp_ignored_packets_total",
                "Well-formed DHCP packets the proxyDHCP server did not answer, by reason",
                &["reason"],
            ),
            nodes: gauges(
                "nodes",
                "Registered nodes by the state the last heartbeat observed",
                &["state"],
            ),
            engine_leader: gauges(
                "engine_leader",
                "1 when this instance runs the engine (leads), else 0",
                &["instance"],
            ),
            engine_leader_since: gauges(
                "engine_leader_since_seconds",
                "When the engine's current leader took over, in seconds since the epoch",
                &["leader"],
            ),
            registry,
        }
    }
}

/// Adds a metric to the registry, so `/metrics` shows it: made and registered in one step, none can be left out.
/// The definitions are fixed in this file, so an error is a bug.
fn registered<C: Collector + Clone + 'static>(registry: &Registry, made: prometheus::Result<C>) -> C {
    let metric = made.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    pub fn boot_served(&self, protocol: BootProtocol, outcome: BootOutcome, bytes: u64) {
        let protocol = match protocol {
            BootProtocol::Tftp => "tftp",
            BootProtocol::Http => "http",
            BootProtocol::Dhcp => "dhcp",
        };
        let outcome = match outcome {
            BootOutcome::Ok => "ok",
            BootOutcome::Aborted => "aborted",
            BootOutcome::NotFound => "not_found",
            BootOutcome::Error => "error",
        };
        self.boot_served.with_label_values(&[protocol, outcome]).inc();
        self.boot_bytes.with_label_values(&[protocol]).inc_by(bytes);
    }

    /// Sets the node counts per state (`state` names as the API spells them).
    pub fn node_states(&self, counts: &[(&str, i64)]) {
        for (state, count) in counts {
            self.nodes.with_label_values(&[state]).set(*count);
        }
    }

    /// Sets the leadership gauges to what the election says now (read at scrape time): whether `instance`
    /// leads, and who leads since when, if known.
    pub fn engine_leader(&self, instance: &str, leading: bool, leader: Option<(&str, u64)>) {
        self.engine_leader
            .with_label_values(&[instance])
            .set(i64::from(leading));
        self.engine_leader_since.reset();
        if let Some((leader, since)) = leader {
            self.engine_leader_since
                .with_label_values(&[leader])
                .set(i64::try_from(since).unwrap_or(i64::MAX));
        }
    }

    pub fn tftp_malformed(&self) {
        self.tftp_malformed.inc();
    }

    pub fn tftp_refused(&self) {
        self.tftp_refused.inc();
    }

    pub fn dhcp_malformed(&self, reason: &str) {
        self.dhcp_malformed.with_label_values(&[reason]).inc();
    }

    pub fn dhcp_ignored(&self, reason: &str) {
        self.dhcp_ignored.with_label_values(&[reason]).inc();
    }

    pub fn boot_event_dropped(&self) {
        self.boot_events_dropped.inc();
    }

    /// The text exposition, with the scrape-time gauges refreshed.
    pub fn render(&self, store_size: u64) -> String {
        self.store_bytes.set(i64::try_from(store_size).unwrap_or(i64::MAX));
        self.rss_bytes
            .set(resident_memory_bytes().and_then(|b| i64::try_from(b).ok()).unwrap_or(0));
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// RSS from `/proc/self/statm` (Linux): the second field, in pages.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages on every Linux target this is built for; not worth a libc dependency for sysconf.
    Some(pages * 4096)
}
