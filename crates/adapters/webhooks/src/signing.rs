//! The Standard Webhooks signature (<https://www.standardwebhooks.com/>): HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}` with the secret's key, in base64, after `v1,`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::WebhookSecret;

/// The message's ID header: the same on every attempt of one message.
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// The attempt's time header, in Unix seconds.
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The signature header, `v1,<base64>`.
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The three headers of one signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`: `v1,<base64 HMAC-SHA256>`.
    pub signature: String,
}

impl SignedHeaders {
    /// Signs `body` as message `id` sent at `timestamp` (Unix seconds).
    pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> Self {
        Self { id: id.to_owned(), timestamp, signature: signature(secret, id, timestamp, body) }
    }
}

/// `v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn signature(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries (svix's test vector).
    #[test]
    fn the_reference_vector_is_reproduced() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signed =
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
