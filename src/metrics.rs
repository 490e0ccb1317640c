//! Prometheus metrics: HTTP requests by route and status, request latency, store size and process memory.
//!
//! Counters are updated on the request path (lock-free after the first request of a label set); the gauges that
//! cost a syscall (store size, RSS) are read only when `/metrics` is scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    store_bytes: Gauge,
    rss_bytes: Gauge,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~1.6 s: API reads sit at the low end, long uploads at the top.
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("zos");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let store_bytes = Gauge::default();
        let rss_bytes = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "store_size_bytes",
            "Bytes the state store takes on disk",
            store_bytes.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident set size of this process",
            rss_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            store_bytes,
            rss_bytes,
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// The Prometheus text exposition, with the scrape-time gauges refreshed.
    pub fn render(&self, store_size: u64) -> String {
        self.store_bytes.set(store_size as i64);
        self.rss_bytes
            .set(resident_memory_bytes().unwrap_or(0) as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// RSS from `/proc/self/statm` (Linux): the second field, in pages.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages on every Linux target this is built for; not worth a libc dependency for sysconf.
    Some(pages * 4096)
}
