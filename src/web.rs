//! The web UI's files, embedded into the binary from `web/` at build time (read from disk in debug builds, so
//! UI work needs no rebuild).

#[derive(rust_embed::RustEmbed)]
#[folder = "web/"]
pub struct Assets;
