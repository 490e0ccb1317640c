//! The open-files limit. The orchestrator holds a connection per node and `sim` a listener and a connection
//! per emulated node, so 10,000 nodes need over 10,000 file descriptors, while most systems start a process
//! with a soft limit of 1,024 (and a hard one far above it). Like Go's runtime and most servers, both raise the
//! soft limit to the hard one at start: the hard limit is what the administrator allows.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft `RLIMIT_NOFILE` to the hard one and returns the limit now in force (`None`: unlimited).
/// A refusal leaves the limit as it was, and that limit is returned.
pub fn raise() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return limit.current;
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(err) => {
            tracing::warn!(error = %err, "cannot raise the open-files limit; keeping {:?}", limit.current);
            limit.current
        }
    }
}
