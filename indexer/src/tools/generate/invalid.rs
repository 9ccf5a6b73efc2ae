//! Deliberately invalid messages, one of every kind of mistake the dead-letter path handles.

use rand::rngs::StdRng;
use rand::Rng;

use super::Message;

/// Replaces `message` by an invalid one with probability `ratio`: every kind of mistake the
/// dead-letter path handles, chosen by `rng`.
pub fn maybe_invalid(message: Message, ratio: f64, rng: &mut StdRng) -> Message {
    if ratio <= 0.0 || !rng.random_bool(ratio.min(1.0)) {
        return message;
    }
    let original = message.payload.clone().unwrap_or_default();
    let text = String::from_utf8_lossy(&original).into_owned();
    let (payload, code): (Option<Vec<u8>>, &'static str) = match rng.random_range(0..8) {
        0 => (Some(b"{\"product_id\": ".to_vec()), "not_json"),
        1 => {
            let mut bytes = original.clone();
            bytes.insert(1, 0xff);
            (Some(bytes), "not_utf8")
        }
        2 => (None, "null_payload"),
        3 => (
            Some(
                text.replacen("\"version\":", "\"versionx\":", 1)
                    .into_bytes(),
            ),
            "missing_field",
        ),
        4 => (
            Some(
                text.replacen("\"ts\":", "\"ts\":\"yesterday\",\"was\":", 1)
                    .into_bytes(),
            ),
            "wrong_type",
        ),
        5 => (
            Some(
                text.replacen("\"version\":", "\"version\":-", 1)
                    .into_bytes(),
            ),
            "negative_number",
        ),
        6 => (
            Some(b"[\"not\", \"an\", \"object\"]".to_vec()),
            "not_object",
        ),
        _ => (
            Some(
                text.replacen("\"product_id\":\"", "\"product_id\":\"\",\"x\":\"", 1)
                    .into_bytes(),
            ),
            "empty_value",
        ),
    };
    Message {
        payload,
        invalid: Some(code),
        ..message
    }
}
