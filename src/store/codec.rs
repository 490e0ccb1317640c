//! Value encoding: one schema-version byte, then the record as MessagePack with field names.
//!
//! Named fields (not positional arrays) let a later release add optional fields without a migration; the version
//! byte is there for the day a change cannot be expressed that way, so old records can be recognised and migrated
//! instead of misread.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Result, StoreError, Versioned};

/// The layout written by this build. Bump it, and teach `decode` the old one, when a record changes shape.
pub(super) const SCHEMA_VERSION: u8 = 1;

pub fn encode<T: Serialize>(record: &Versioned<T>) -> Result<Vec<u8>> {
    let mut out = vec![SCHEMA_VERSION];
    rmp_serde::encode::write_named(&mut out, record)
        .map_err(|err| std::io::Error::other(format!("cannot encode record: {err}")))?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(collection: &'static str, id: &str, raw: &[u8]) -> Result<Versioned<T>> {
    let corrupt = |reason: String| StoreError::Corrupt {
        collection,
        id: id.to_owned(),
        reason,
    };
    match raw.split_first() {
        Some((&SCHEMA_VERSION, body)) => rmp_serde::from_slice(body).map_err(|err| corrupt(err.to_string())),
        Some((other, _)) => Err(corrupt(format!("unknown schema version {other}"))),
        None => Err(corrupt("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Thing {
        name: String,
        #[serde(default)]
        size: u32,
    }

    #[test]
    fn round_trips_and_tolerates_added_fields() {
        let raw = encode(&Versioned {
            version: 3,
            value: Thing {
                name: "a".into(),
                size: 7,
            },
        })
        .unwrap();
        assert_eq!(raw[0], SCHEMA_VERSION);
        let back: Versioned<Thing> = decode("things", "a", &raw).unwrap();
        assert_eq!(
            (back.version, back.value),
            (
                3,
                Thing {
                    name: "a".into(),
                    size: 7
                }
            )
        );

        #[derive(Serialize)]
        struct Older {
            name: String,
        }
        let old = encode(&Versioned {
            version: 1,
            value: Older { name: "b".into() },
        })
        .unwrap();
        let upgraded: Versioned<Thing> = decode("things", "b", &old).unwrap();
        assert_eq!(
            upgraded.value,
            Thing {
                name: "b".into(),
                size: 0
            }
        );
    }

    #[test]
    fn rejects_unknown_schema_and_garbage() {
        let err = decode::<Thing>("things", "x", &[99, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("unknown schema version 99"), "{err}");
        assert!(decode::<Thing>("things", "x", &[]).is_err());
        assert!(decode::<Thing>("things", "x", &[SCHEMA_VERSION, 0xc1]).is_err());
    }
}
