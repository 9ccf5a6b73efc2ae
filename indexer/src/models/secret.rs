//! Values that must never reach a log, `--help` or `/status`: the admin token and the
//! librdkafka properties (`sasl.password`, `ssl.key.password`, ...). Their `Debug` shows
//! nothing of the value, so a `?settings` in a log line or a panic message cannot leak
//! them; code that needs the value asks for it by name ([`Secret::expose`]).

use std::fmt;
use std::ops::Deref;

/// A secret string (a token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes, redacted>)", self.0.len())
    }
}

/// librdkafka client properties (`--kafka-property key=value`): `Debug` shows the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(Vec<(String, String)>);

impl Deref for KafkaProperties {
    type Target = [(String, String)];

    fn deref(&self) -> &[(String, String)] {
        &self.0
    }
}

impl From<Vec<(String, String)>> for KafkaProperties {
    fn from(properties: Vec<(String, String)>) -> KafkaProperties {
        KafkaProperties(properties)
    }
}

impl<'a> IntoIterator for &'a KafkaProperties {
    type Item = &'a (String, String);
    type IntoIter = std::slice::Iter<'a, (String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=<redacted>")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let token = Secret::new("s3cr3t-token-value");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        assert_eq!(token.expose(), "s3cr3t-token-value");
        let props = KafkaProperties::from(vec![(
            "sasl.password".to_owned(),
            "hunter2-secret".to_owned(),
        )]);
        let shown = format!("{props:?}");
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(props[0].1, "hunter2-secret");
    }
}
