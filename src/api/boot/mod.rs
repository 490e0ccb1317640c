//! What machines fetch to boot (scripts, boot media, iPXE binaries, assets) and the boot configuration behind it.

pub(super) mod config;
pub(super) mod media;
pub(super) mod serve;
pub(super) mod target;
