//! A named set of firmware files the boot server hands out or builds media from (iPXE's binaries, ISOLINUX's):
//! embedded at build time (see build.rs), or read from an operator's directory that replaces them.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

#[derive(Clone)]
pub struct FileSet {
    files: BTreeMap<&'static str, Bytes>,
    /// Where they came from, for `/health`: the Debian package version or a directory.
    pub origin: String,
}

impl FileSet {
    /// The files build.rs found and embedded, with where it found them.
    pub fn embedded(files: &[(&'static str, &'static [u8])], origin: &str) -> FileSet {
        let files = files
            .iter()
            .map(|(name, bytes)| (*name, Bytes::from_static(bytes)))
            .collect();
        FileSet {
            files,
            origin: origin.to_owned(),
        }
    }

    /// Reads each of `names` from `dir`. One that is missing is an error naming its path, unless it is `optional`.
    pub fn from_dir(dir: &Path, names: &[&'static str], optional: &[&str]) -> std::io::Result<FileSet> {
        let mut files = BTreeMap::new();
        for name in names {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    files.insert(*name, Bytes::from(bytes));
                }
                Err(err) if optional.contains(name) && err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))),
            }
        }
        Ok(FileSet {
            files,
            origin: format!("directory {}", dir.display()),
        })
    }

    pub fn get(&self, name: &str) -> Option<Bytes> {
        self.files.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.files.keys().copied()
    }

    pub fn contents(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.files.values()
    }
}

#[cfg(test)]
mod tests {
    use super::FileSet;

    #[test]
    fn a_directory_must_hold_every_file_but_the_optional_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bin"), b"a").unwrap();

        let set = FileSet::from_dir(dir.path(), &["a.bin", "b.bin"], &["b.bin"]).unwrap();
        assert_eq!(set.names().collect::<Vec<_>>(), ["a.bin"]);
        assert_eq!(set.get("a.bin").as_deref(), Some(&b"a"[..]));
        assert!(set.origin.starts_with("directory "));

        let err = FileSet::from_dir(dir.path(), &["a.bin", "b.bin"], &[]).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("b.bin"), "{err}");
    }
}
