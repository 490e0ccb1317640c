//! The backup archive: a versioned, self-checking stream of store entries and files.
//!
//! ```text
//! "ZOSBKUP\n"  u32 format version  u16-length orchestrator version      ← this prefix never changes
//! entry*       1 record:  u16 tree, u32 key, u32 value                  (length-prefixed byte strings)
//!              2 removed: u16 tree, u32 key                             (a later correction, see `super`)
//!              3 file:    u16 path, u64 size, then size bytes           (relative to the data directory)
//! 0xff end     u64 entry count, u64 change-log position, 32-byte SHA-256 of every byte before the digest
//! ```
//!
//! All integers are big-endian. A reader refuses a stream that stops before the end entry (truncated), whose
//! count or digest does not match, or that goes on after it (corrupt), and a newer format version before it
//! reads anything else — the fixed prefix lets it name the release that wrote it.
//!
//! Why not tar: records are not files, a tar of sled's own files is not a consistent copy (see `super`), and
//! tar has neither a checksum over the whole nor a way to tell a truncated stream from a complete one. The
//! format above is the few lines it takes to have both, and needs no crate.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// The format this build writes and the newest it reads. It covers the record encoding too: the archive carries
/// records as the store keeps them, so a change of `codec`'s schema version is a new format version.
pub const FORMAT_VERSION: u32 = 1;
const _: () = assert!(
    super::super::codec::SCHEMA_VERSION == 1,
    "a new record schema is a new archive FORMAT_VERSION"
);

const MAGIC: &[u8; 8] = b"ZOSBKUP\n";
const TAG_RECORD: u8 = 1;
const TAG_REMOVED: u8 = 2;
const TAG_FILE: u8 = 3;
const TAG_END: u8 = 0xff;
/// The largest key and value a reader accepts, so a corrupt length cannot make it allocate gigabytes.
const MAX_KEY: u32 = 64 * 1024;
const MAX_VALUE: u32 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a zos-orchestrator backup (it does not start with the backup header)")]
    NotABackup,
    #[error(
        "the backup is format version {found}, written by zos-orchestrator {made_by}; this zos-orchestrator ({}) \
         reads format {FORMAT_VERSION} and older: restore it with zos-orchestrator {made_by} or newer",
        env!("CARGO_PKG_VERSION")
    )]
    Newer { found: u32, made_by: String },
    #[error("the backup is truncated: it stops {0} (an interrupted download?)")]
    Truncated(String),
    #[error("the backup is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot read the backup: {0}")]
    Io(io::Error),
}

/// Writes an archive to `out`, hashing everything it writes.
pub struct ArchiveWriter<W: Write> {
    out: W,
    hasher: Sha256,
    entries: u64,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn start(out: W) -> io::Result<ArchiveWriter<W>> {
        let mut writer = ArchiveWriter {
            out,
            hasher: Sha256::new(),
            entries: 0,
        };
        writer.put(MAGIC)?;
        writer.put(&FORMAT_VERSION.to_be_bytes())?;
        writer.short(env!("CARGO_PKG_VERSION").as_bytes())?;
        Ok(writer)
    }

    pub fn record(&mut self, tree: &str, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.put(&[TAG_RECORD])?;
        self.short(tree.as_bytes())?;
        self.long(key)?;
        self.long(value)?;
        self.entries += 1;
        Ok(())
    }

    pub fn removed(&mut self, tree: &str, key: &[u8]) -> io::Result<()> {
        self.put(&[TAG_REMOVED])?;
        self.short(tree.as_bytes())?;
        self.long(key)?;
        self.entries += 1;
        Ok(())
    }

    /// A file of `size` bytes, read from `content`, which must hold exactly that many.
    pub fn file(&mut self, path: &str, size: u64, content: impl Read) -> io::Result<()> {
        self.put(&[TAG_FILE])?;
        self.short(path.as_bytes())?;
        self.put(&size.to_be_bytes())?;
        let mut content = content.take(size);
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = content.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.put(&buf[..n])?;
            copied += n as u64;
        }
        if copied != size {
            return Err(io::Error::other(format!(
                "{path} shrank while it was read ({copied} of {size} bytes)"
            )));
        }
        self.entries += 1;
        Ok(())
    }

    /// Writes the end entry (with `position`, the change log's sequence number the archive is a copy at) and
    /// hands back the output.
    pub fn finish(mut self, position: u64) -> io::Result<W> {
        self.put(&[TAG_END])?;
        self.put(&self.entries.to_be_bytes())?;
        self.put(&position.to_be_bytes())?;
        let digest = self.hasher.finalize_reset();
        self.out.write_all(&digest)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    fn short(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u16::try_from(bytes.len()).map_err(|_| io::Error::other("name longer than 65535 bytes"))?;
        self.put(&len.to_be_bytes())?;
        self.put(bytes)
    }

    fn long(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| io::Error::other("value longer than 4 GiB"))?;
        self.put(&len.to_be_bytes())?;
        self.put(bytes)
    }
}

/// One entry, as read.
#[derive(Debug)]
pub enum Item {
    Record {
        tree: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Removed {
        tree: String,
        key: Vec<u8>,
    },
    /// A file's header; its bytes follow, read with [`ArchiveReader::copy_file`].
    File {
        path: String,
    },
    /// The end entry, checked: everything before it arrived intact.
    End {
        position: u64,
    },
}

/// Reads an archive, hashing everything it reads.
pub struct ArchiveReader<R: Read> {
    input: R,
    hasher: Sha256,
    entries: u64,
    /// Bytes of the current file not yet read.
    pending: u64,
    pub made_by: String,
}

impl<R: Read> ArchiveReader<R> {
    /// Checks the header: a backup, in a format this build reads.
    pub fn open(input: R) -> Result<ArchiveReader<R>, ArchiveError> {
        let mut reader = ArchiveReader {
            input,
            hasher: Sha256::new(),
            entries: 0,
            pending: 0,
            made_by: String::new(),
        };
        let mut magic = [0u8; 8];
        match reader.take(&mut magic) {
            Ok(()) if &magic == MAGIC => {}
            Ok(()) | Err(ArchiveError::Truncated(_)) => return Err(ArchiveError::NotABackup),
            Err(err) => return Err(err),
        }
        let version = reader.u32()?;
        let made_by = reader.short()?;
        reader.made_by = String::from_utf8_lossy(&made_by).into_owned();
        if version > FORMAT_VERSION {
            return Err(ArchiveError::Newer {
                found: version,
                made_by: reader.made_by,
            });
        }
        if version == 0 {
            return Err(ArchiveError::Corrupt("its header says format version 0".into()));
        }
        Ok(reader)
    }

    /// The next entry. A file's bytes that the caller did not copy are skipped (and still checked).
    pub fn next(&mut self) -> Result<Item, ArchiveError> {
        if self.pending > 0 {
            self.copy_file(&mut io::sink())?;
        }
        let at = format!("in entry {}", self.entries + 1);
        let mut tag = [0u8; 1];
        self.take(&mut tag)?;
        let item = match tag[0] {
            TAG_RECORD => Item::Record {
                tree: self.name(&at)?,
                key: self.long(&at, MAX_KEY)?,
                value: self.long(&at, MAX_VALUE)?,
            },
            TAG_REMOVED => Item::Removed {
                tree: self.name(&at)?,
                key: self.long(&at, MAX_KEY)?,
            },
            TAG_FILE => {
                let path = self.name(&at)?;
                let size = self.u64()?;
                self.pending = size;
                Item::File { path }
            }
            TAG_END => return self.end(),
            other => return Err(ArchiveError::Corrupt(format!("unknown entry type {other} {at}"))),
        };
        self.entries += 1;
        Ok(item)
    }

    /// Copies the current file's bytes to `out`.
    pub fn copy_file(&mut self, out: &mut impl Write) -> Result<(), ArchiveError> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.pending > 0 {
            let chunk = &mut buf[..self.pending.min(64 * 1024) as usize];
            self.take(chunk)?;
            out.write_all(chunk).map_err(ArchiveError::Io)?;
            self.pending -= chunk.len() as u64;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Item, ArchiveError> {
        let count = self.u64()?;
        let position = self.u64()?;
        let computed = self.hasher.clone().finalize();
        let mut digest = [0u8; 32];
        self.take(&mut digest)?;
        if digest[..] != computed[..] {
            return Err(ArchiveError::Corrupt(
                "its checksum does not match its contents (changed after it was written?)".into(),
            ));
        }
        if count != self.entries {
            return Err(ArchiveError::Corrupt(format!(
                "it says it holds {count} entries, and holds {}",
                self.entries
            )));
        }
        let mut extra = [0u8; 1];
        if self.input.read(&mut extra).map_err(ArchiveError::Io)? != 0 {
            return Err(ArchiveError::Corrupt("there are bytes after its end".into()));
        }
        Ok(Item::End { position })
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<(), ArchiveError> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.hasher.update(&*buf);
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Err(ArchiveError::Truncated(format!(
                "after {} complete entries",
                self.entries
            ))),
            Err(err) => Err(ArchiveError::Io(err)),
        }
    }

    fn u32(&mut self) -> Result<u32, ArchiveError> {
        let mut buf = [0u8; 4];
        self.take(&mut buf)?;
        Ok(u32::from_be_bytes(buf))
    }

    fn u64(&mut self) -> Result<u64, ArchiveError> {
        let mut buf = [0u8; 8];
        self.take(&mut buf)?;
        Ok(u64::from_be_bytes(buf))
    }

    fn short(&mut self) -> Result<Vec<u8>, ArchiveError> {
        let mut len = [0u8; 2];
        self.take(&mut len)?;
        let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.take(&mut bytes)?;
        Ok(bytes)
    }

    fn name(&mut self, at: &str) -> Result<String, ArchiveError> {
        String::from_utf8(self.short()?).map_err(|_| ArchiveError::Corrupt(format!("a name that is not UTF-8 {at}")))
    }

    fn long(&mut self, at: &str, limit: u32) -> Result<Vec<u8>, ArchiveError> {
        let len = self.u32()?;
        if len > limit {
            return Err(ArchiveError::Corrupt(format!(
                "a length of {len} bytes {at}, above the limit of {limit}"
            )));
        }
        let mut bytes = vec![0u8; len as usize];
        self.take(&mut bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut writer = ArchiveWriter::start(Vec::new()).unwrap();
        writer.record("nodes", b"n1", b"value-1").unwrap();
        writer.removed("nodes", b"n0").unwrap();
        writer.file("assets/kernel", 6, &b"KERNEL"[..]).unwrap();
        writer.finish(42).unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(Vec<String>, u64), ArchiveError> {
        let mut reader = ArchiveReader::open(bytes)?;
        let mut seen = Vec::new();
        loop {
            match reader.next()? {
                Item::Record { tree, key, value } => seen.push(format!(
                    "{tree}/{}={}",
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(&value)
                )),
                Item::Removed { tree, key } => seen.push(format!("-{tree}/{}", String::from_utf8_lossy(&key))),
                Item::File { path } => {
                    let mut content = Vec::new();
                    reader.copy_file(&mut content)?;
                    seen.push(format!("{path}:{}", String::from_utf8_lossy(&content)));
                }
                Item::End { position } => return Ok((seen, position)),
            }
        }
    }

    #[test]
    fn round_trips() {
        let (seen, position) = read_all(&sample()).unwrap();
        assert_eq!(seen, ["nodes/n1=value-1", "-nodes/n0", "assets/kernel:KERNEL"]);
        assert_eq!(position, 42);
    }

    #[test]
    fn refuses_every_truncation_and_every_changed_byte() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let err = read_all(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, ArchiveError::Truncated(_) | ArchiveError::NotABackup),
                "cut at {cut}: {err}"
            );
        }
        for at in MAGIC.len() + 4..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[at] ^= 0x20;
            assert!(read_all(&tampered).is_err(), "byte {at} changed and accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(read_all(&longer), Err(ArchiveError::Corrupt(_))));
    }

    #[test]
    fn refuses_a_newer_format_naming_its_release() {
        let mut bytes = sample();
        bytes[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&(FORMAT_VERSION + 1).to_be_bytes());
        let err = read_all(&bytes).unwrap_err();
        assert!(matches!(err, ArchiveError::Newer { .. }), "{err}");
        assert!(err.to_string().contains(env!("CARGO_PKG_VERSION")), "{err}");
    }
}
