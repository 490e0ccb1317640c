//! What machines fetch to boot (scripts, iPXE binaries, assets) and the boot configuration behind it.

pub(super) mod config;
pub(super) mod serve;
