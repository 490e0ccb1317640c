//! Field rules shared by every entry point. Each failure names the field, so the API can answer
//! `{"code": "invalid_field", "field": ...}` and the operator knows what to fix.

use std::net::{IpAddr, SocketAddr};

use super::Labels;

/// A rejected field: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// For a unit test of a validation: `valid` must pass it; `change` made to it must fail it. Answers the field the
/// failure names.
#[cfg(test)]
pub fn field_rejected<T>(mut valid: T, validate: fn(&T) -> Result<(), Invalid>, change: impl FnOnce(&mut T)) -> String {
    assert_eq!(validate(&valid), Ok(()), "the unchanged value must be valid");
    change(&mut valid);
    validate(&valid).expect_err("the change must be refused").field
}

pub(super) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')
}

/// Ids follow 0-orchestrator's naming rule (`^[a-zA-Z0-9-._]+$`), bounded to 64 characters. Node ids are usually
/// the MAC of the node's default interface without colons (`0cc47aab6702`), which fits.
pub fn validate_id(field: &str, id: &str) -> Result<(), Invalid> {
    if id.is_empty() || id.len() > 64 {
        return Err(Invalid::new(field, "must be 1 to 64 characters"));
    }
    if !id.chars().all(is_name_char) || id.starts_with('.') {
        return Err(Invalid::new(
            field,
            "may contain only letters, digits, '-', '.' and '_' (not starting with '.')",
        ));
    }
    Ok(())
}

/// An RFC 1123 host name (may be empty: unknown until the node is contacted).
pub fn validate_hostname(field: &str, hostname: &str) -> Result<(), Invalid> {
    if hostname.is_empty() {
        return Ok(());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if hostname.len() > 253 || !hostname.split('.').all(label_ok) {
        return Err(Invalid::new(
            field,
            "must be a valid host name (letters, digits and '-', dot-separated)",
        ));
    }
    Ok(())
}

/// Where the node's 0-core listens: an IP address, `ip:port`, `[v6]:port`, or a host name with optional port.
pub fn validate_address(field: &str, address: &str) -> Result<(), Invalid> {
    if address.parse::<IpAddr>().is_ok() || address.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (address, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if host.is_empty() || !port_ok || validate_hostname(field, host).is_err() {
        return Err(Invalid::new(
            field,
            "must be an IP address or host name, optionally with ':port'",
        ));
    }
    Ok(())
}

/// Label keys: 1–63 of `[A-Za-z0-9-._/]`; values: up to 63 of `[A-Za-z0-9-._]` (empty allowed). At most 64 labels.
pub fn validate_labels(field: &str, labels: &Labels) -> Result<(), Invalid> {
    if labels.len() > 64 {
        return Err(Invalid::new(field, "at most 64 labels"));
    }
    for (key, value) in labels {
        let key_ok = !key.is_empty() && key.len() <= 63 && key.chars().all(|c| is_name_char(c) || c == '/');
        if !key_ok {
            return Err(Invalid::new(
                format!("{field}.{key}"),
                "label keys are 1 to 63 letters, digits, '-', '.', '_' or '/'",
            ));
        }
        if value.len() > 63 || !value.chars().all(is_name_char) {
            return Err(Invalid::new(
                format!("{field}.{key}"),
                "label values are up to 63 letters, digits, '-', '.' or '_'",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("id", "0cc47aab6702").is_ok());
        assert!(validate_id("id", "node-1.rack_2").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "x".repeat(65).as_str(), "..", "é"] {
            let err = validate_id("id", bad).unwrap_err();
            assert_eq!(err.field, "id", "{bad}");
        }
    }

    #[test]
    fn addresses() {
        for good in [
            "10.147.17.5",
            "10.147.17.5:6379",
            "fd00::1",
            "[fd00::1]:6379",
            "node1.example.com:6379",
            "n1",
        ] {
            assert!(validate_address("address", good).is_ok(), "{good}");
        }
        for bad in ["", ":6379", "host:0", "host:99999", "-bad", "a b", "ho$t"] {
            assert!(validate_address("address", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels() {
        let ok: Labels = [
            ("rack".to_owned(), "r1".to_owned()),
            ("zos.io/role".to_owned(), String::new()),
        ]
        .into();
        assert!(validate_labels("labels", &ok).is_ok());
        let bad: Labels = [("rack".to_owned(), "r 1".to_owned())].into();
        assert_eq!(validate_labels("labels", &bad).unwrap_err().field, "labels.rack");
        let bad_key: Labels = [(String::new(), "x".to_owned())].into();
        assert!(validate_labels("labels", &bad_key).is_err());
    }
}
