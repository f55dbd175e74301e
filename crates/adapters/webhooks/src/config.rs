//! The settings of webhook delivery, the pre-removal hook and outbox retention, with the
//! defaults docs/api.md states ("Webhooks", "The pre-removal hook", "Live streams (Server-Sent
//! Events)"), checked once at start-up.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `EVO_WEBHOOK_RETRY_HOURS`: how long a failing event is retried before it is dead-lettered.
pub const DEFAULT_RETRY_HOURS: u64 = 24;
/// `EVO_PRE_REMOVE_HOOK_TIMEOUT_MS`: how long a removal waits for the hook's answer.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 1000;
/// `EVO_DEAD_LETTER_RETENTION_DAYS`: how long dead letters are kept for a redelivery.
pub const DEFAULT_DEAD_LETTER_RETENTION_DAYS: u64 = 30;
/// `EVO_EVENT_RETENTION_HOURS`: how long settled events are kept (streams resume within it).
pub const DEFAULT_RETENTION_HOURS: u64 = 72;
/// How long one webhook POST may take, answer included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How many due events one claim takes.
pub const DEFAULT_BATCH_SIZE: u32 = 16;
/// How many sessions' events are delivered at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// How long a claim keeps other workers off its events unless its holder renews it (every
/// third of it, while it works): after a crash, the longest its events wait.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
/// The shortest lease: a renewal, every third of it, must have a second to land.
pub const MIN_LEASE: Duration = Duration::from_secs(3);
/// The first retry's delay; each further one doubles it.
pub const DEFAULT_FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(600);
/// How long the worker sleeps when nothing is due and nobody wakes it.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often the pending and dead-letter gauges are read from the store.
pub const DEFAULT_COUNTS_INTERVAL: Duration = Duration::from_secs(10);
/// How much of the hook's answer is read for its `message`.
pub const DEFAULT_MAX_HOOK_ANSWER_BYTES: u64 = 16 * 1024;
/// How many settled events one purge deletes.
pub const DEFAULT_PURGE_BATCH: u32 = 500;
/// How often the retention task purges.
pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest key the Standard Webhooks specification recommends, in bytes.
pub const MIN_SECRET_BYTES: usize = 24;

const SECRET_PREFIX: &str = "whsec_";

/// The signing key, from its Standard Webhooks form `whsec_<base64>`. Its `Debug` shows no
/// byte of it, and nothing in this crate puts it in a message.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

/// Why a text is not a [`WebhookSecret`]. The messages never repeat the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("must have the Standard Webhooks form whsec_<base64>; it does not start with whsec_")]
    MissingPrefix,
    /// What follows `whsec_` is not standard base64.
    #[error("what follows whsec_ is not standard base64 (A-Z a-z 0-9 + /, = padding)")]
    NotBase64,
    /// The key is shorter than the specification recommends.
    #[error("the key is {bytes} bytes; at least {MIN_SECRET_BYTES} random bytes are needed")]
    TooShort {
        /// The key's length.
        bytes: usize,
    },
}

impl WebhookSecret {
    /// Reads `whsec_<base64>` (surrounding white space is dropped); the key must be at least
    /// [`MIN_SECRET_BYTES`] bytes.
    pub fn parse(raw: &str) -> Result<Self, SecretError> {
        let encoded = raw.trim().strip_prefix(SECRET_PREFIX).ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort { bytes: key.len() });
        }
        Ok(Self { key })
    }

    /// The key's bytes, for the HMAC.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why the settings cannot be used. Each message names the setting to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A URL is set but the secret is not.
    #[error("{setting} is set, so EVO_WEBHOOK_SECRET (whsec_<base64>) is required to sign its requests")]
    SecretRequired {
        /// The URL's setting.
        setting: &'static str,
    },
    /// The secret is malformed.
    #[error("EVO_WEBHOOK_SECRET {0}")]
    Secret(#[from] SecretError),
    /// A URL is not an absolute http(s) URL.
    #[error("{setting} must be an absolute http:// or https:// URL with a host: {problem}")]
    BadUrl {
        /// The URL's setting.
        setting: &'static str,
        /// What is wrong (the URL is not repeated: it may hold credentials).
        problem: &'static str,
    },
    /// A number or duration that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// The setting.
        setting: &'static str,
    },
    /// The lease leaves a renewal no time to land.
    #[error(
        "EVO_WEBHOOK_LEASE_SECS ({lease:?}) must be at least {MIN_LEASE:?}: it is renewed every third of it"
    )]
    LeaseTooShort {
        /// The lease.
        lease: Duration,
    },
}

/// Webhook delivery: where, signed with what, and how the worker paces itself.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `EVO_WEBHOOK_URL`: where each event is POSTed.
    pub url: String,
    /// `EVO_WEBHOOK_SECRET`.
    pub secret: WebhookSecret,
    /// `EVO_WEBHOOK_RETRY_HOURS`: retries stop this long after an event became pending.
    pub retry_window: Duration,
    /// How long one POST may take, answer included.
    pub request_timeout: Duration,
    /// How long a claim keeps other workers off its events unless renewed: the worker renews
    /// it every third of it while it works, and starts no attempt (and stops waiting for the
    /// one under way) once it has passed unrenewed.
    pub lease: Duration,
    /// How many due events one claim takes.
    pub batch_size: u32,
    /// How many sessions' events are delivered at once.
    pub concurrency: usize,
    /// The first retry's delay; each further one doubles it, up to `max_retry_delay`.
    pub first_retry: Duration,
    /// The longest delay between two attempts.
    pub max_retry_delay: Duration,
    /// How long the worker sleeps when nothing is due and nobody wakes it (also its pause
    /// after a store failure).
    pub poll_interval: Duration,
    /// How often the pending and dead-letter gauges are read from the store.
    pub counts_interval: Duration,
}

impl WebhookConfig {
    /// Delivery to `url`, signed with `secret`, with the defaults of docs/api.md, "Webhooks".
    pub fn new(url: impl Into<String>, secret: WebhookSecret) -> Result<Self, ConfigError> {
        let config = Self {
            url: url.into().trim().to_owned(),
            secret,
            retry_window: Duration::from_secs(DEFAULT_RETRY_HOURS * 3600),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            lease: DEFAULT_LEASE,
            batch_size: DEFAULT_BATCH_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            first_retry: DEFAULT_FIRST_RETRY,
            max_retry_delay: DEFAULT_MAX_RETRY_DELAY,
            poll_interval: DEFAULT_POLL_INTERVAL,
            counts_interval: DEFAULT_COUNTS_INTERVAL,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings (call again after changing a field).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("EVO_WEBHOOK_URL", &self.url)?;
        positive("EVO_WEBHOOK_RETRY_HOURS", self.retry_window)?;
        positive("the webhook request timeout", self.request_timeout)?;
        positive("the webhook poll interval", self.poll_interval)?;
        positive("the webhook counts interval", self.counts_interval)?;
        positive("the first retry delay", self.first_retry)?;
        positive("the longest retry delay", self.max_retry_delay)?;
        if self.batch_size == 0 {
            return Err(ConfigError::Zero { setting: "the webhook batch size" });
        }
        if self.concurrency == 0 {
            return Err(ConfigError::Zero { setting: "the webhook concurrency" });
        }
        if self.lease < MIN_LEASE {
            return Err(ConfigError::LeaseTooShort { lease: self.lease });
        }
        Ok(())
    }

    /// The URL without credentials, path or query, for logs.
    pub fn redacted_url(&self) -> String {
        redacted_url(&self.url)
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.redacted_url())
            .field("secret", &self.secret)
            .field("retry_window", &self.retry_window)
            .field("request_timeout", &self.request_timeout)
            .field("lease", &self.lease)
            .field("batch_size", &self.batch_size)
            .field("concurrency", &self.concurrency)
            .field("first_retry", &self.first_retry)
            .field("max_retry_delay", &self.max_retry_delay)
            .field("poll_interval", &self.poll_interval)
            .field("counts_interval", &self.counts_interval)
            .finish()
    }
}

/// The pre-removal hook: where, signed with what, how long to wait.
#[derive(Clone)]
pub struct HookConfig {
    /// `EVO_PRE_REMOVE_HOOK_URL`.
    pub url: String,
    /// `EVO_WEBHOOK_SECRET`.
    pub secret: WebhookSecret,
    /// `EVO_PRE_REMOVE_HOOK_TIMEOUT_MS`: no answer within it is a failure.
    pub timeout: Duration,
    /// How much of a refusal's body is read for its `message`; a longer body gives none.
    pub max_answer_bytes: u64,
}

impl HookConfig {
    /// The hook at `url`, signed with `secret`, with the defaults of docs/api.md, "The
    /// pre-removal hook".
    pub fn new(url: impl Into<String>, secret: WebhookSecret) -> Result<Self, ConfigError> {
        let config = Self {
            url: url.into().trim().to_owned(),
            secret,
            timeout: Duration::from_millis(DEFAULT_HOOK_TIMEOUT_MS),
            max_answer_bytes: DEFAULT_MAX_HOOK_ANSWER_BYTES,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings (call again after changing a field).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("EVO_PRE_REMOVE_HOOK_URL", &self.url)?;
        positive("EVO_PRE_REMOVE_HOOK_TIMEOUT_MS", self.timeout)?;
        if self.max_answer_bytes == 0 {
            return Err(ConfigError::Zero { setting: "the hook answer limit" });
        }
        Ok(())
    }

    /// The URL without credentials, path or query, for logs.
    pub fn redacted_url(&self) -> String {
        redacted_url(&self.url)
    }
}

impl fmt::Debug for HookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookConfig")
            .field("url", &self.redacted_url())
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish()
    }
}

/// Outbox retention: settled events older than `retention` are deleted, `batch` at a time,
/// every `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `EVO_EVENT_RETENTION_HOURS`.
    pub retention: Duration,
    /// `EVO_DEAD_LETTER_RETENTION_DAYS`.
    pub dead_letter_retention: Duration,
    /// How many events one purge statement deletes.
    pub batch: u32,
    /// How often the task purges.
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(DEFAULT_RETENTION_HOURS * 3600),
            dead_letter_retention: Duration::from_secs(DEFAULT_DEAD_LETTER_RETENTION_DAYS * 86_400),
            batch: DEFAULT_PURGE_BATCH,
            interval: DEFAULT_PURGE_INTERVAL,
        }
    }
}

impl RetentionConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("EVO_EVENT_RETENTION_HOURS", self.retention)?;
        positive("EVO_DEAD_LETTER_RETENTION_DAYS", self.dead_letter_retention)?;
        positive("the purge interval", self.interval)?;
        if self.batch == 0 {
            return Err(ConfigError::Zero { setting: "the purge batch" });
        }
        Ok(())
    }
}

/// The settings as the binary reads them (flags or environment), before they are checked.
/// [`Default`] gives the defaults docs/api.md states, with no webhook and no hook.
#[derive(Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// `EVO_WEBHOOK_URL`.
    pub webhook_url: Option<String>,
    /// `EVO_WEBHOOK_SECRET`.
    pub webhook_secret: Option<String>,
    /// `EVO_WEBHOOK_RETRY_HOURS`.
    pub webhook_retry_hours: u64,
    /// `EVO_WEBHOOK_LEASE_SECS`: how long a claimed event is kept from other workers unless
    /// its worker renews the claim (after a crash, how long it waits before another worker
    /// takes it).
    pub webhook_lease_secs: u64,
    /// `EVO_PRE_REMOVE_HOOK_URL`.
    pub pre_remove_hook_url: Option<String>,
    /// `EVO_PRE_REMOVE_HOOK_TIMEOUT_MS`.
    pub pre_remove_hook_timeout_ms: u64,
    /// `EVO_EVENT_RETENTION_HOURS`.
    pub event_retention_hours: u64,
    /// `EVO_DEAD_LETTER_RETENTION_DAYS`.
    pub dead_letter_retention_days: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret: None,
            webhook_retry_hours: DEFAULT_RETRY_HOURS,
            webhook_lease_secs: DEFAULT_LEASE.as_secs(),
            pre_remove_hook_url: None,
            pre_remove_hook_timeout_ms: DEFAULT_HOOK_TIMEOUT_MS,
            event_retention_hours: DEFAULT_RETENTION_HOURS,
            dead_letter_retention_days: DEFAULT_DEAD_LETTER_RETENTION_DAYS,
        }
    }
}

impl fmt::Debug for EventSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSettings")
            .field("webhook_url", &self.webhook_url.as_deref().map(redacted_url))
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<redacted>"))
            .field("webhook_retry_hours", &self.webhook_retry_hours)
            .field("webhook_lease_secs", &self.webhook_lease_secs)
            .field("pre_remove_hook_url", &self.pre_remove_hook_url.as_deref().map(redacted_url))
            .field("pre_remove_hook_timeout_ms", &self.pre_remove_hook_timeout_ms)
            .field("event_retention_hours", &self.event_retention_hours)
            .field("dead_letter_retention_days", &self.dead_letter_retention_days)
            .finish()
    }
}

/// The checked settings: what to start.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Webhook delivery, when `EVO_WEBHOOK_URL` is set.
    pub webhook: Option<WebhookConfig>,
    /// The pre-removal hook, when `EVO_PRE_REMOVE_HOOK_URL` is set.
    pub hook: Option<HookConfig>,
    /// Outbox retention (always on: the outbox is written with or without a webhook).
    pub retention: RetentionConfig,
}

impl EventSettings {
    /// Checks the settings: a URL needs the secret, a secret must be well formed (even when
    /// no URL uses it yet), URLs must be http(s), hours and timeouts must be positive. Empty
    /// texts count as unset.
    pub fn resolve(&self) -> Result<EventsConfig, ConfigError> {
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|text| !text.is_empty())
        }
        let secret = set(&self.webhook_secret).map(WebhookSecret::parse).transpose()?;
        let secret_for =
            |setting: &'static str| secret.clone().ok_or(ConfigError::SecretRequired { setting });
        let webhook = match set(&self.webhook_url) {
            Some(url) => {
                let mut config = WebhookConfig::new(url, secret_for("EVO_WEBHOOK_URL")?)?;
                config.retry_window = Duration::from_secs(self.webhook_retry_hours.saturating_mul(3600));
                config.lease = Duration::from_secs(self.webhook_lease_secs);
                config.validate()?;
                Some(config)
            }
            None => None,
        };
        let hook = match set(&self.pre_remove_hook_url) {
            Some(url) => {
                let mut config = HookConfig::new(url, secret_for("EVO_PRE_REMOVE_HOOK_URL")?)?;
                config.timeout = Duration::from_millis(self.pre_remove_hook_timeout_ms);
                config.validate()?;
                Some(config)
            }
            None => None,
        };
        let retention = RetentionConfig {
            retention: Duration::from_secs(self.event_retention_hours.saturating_mul(3600)),
            dead_letter_retention: Duration::from_secs(
                self.dead_letter_retention_days.saturating_mul(86_400),
            ),
            ..RetentionConfig::default()
        };
        retention.validate()?;
        Ok(EventsConfig { webhook, hook, retention })
    }
}

fn positive(setting: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() { Err(ConfigError::Zero { setting }) } else { Ok(()) }
}

fn check_url(setting: &'static str, url: &str) -> Result<(), ConfigError> {
    let bad = |problem| Err(ConfigError::BadUrl { setting, problem });
    let uri: ureq::http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => return bad("it is not a valid URL"),
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return bad("its scheme is neither http nor https"),
        None => return bad("it has no scheme"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return bad("it has no host");
    }
    Ok(())
}

/// `scheme://host[:port]`, with any `user:password@`, path and query left out.
pub(crate) fn redacted_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let elided = if rest.len() > authority.len() { "/…" } else { "" };
    if scheme.is_empty() { format!("{host}{elided}") } else { format!("{scheme}://{host}{elided}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn a_secret_must_be_whsec_base64_of_enough_bytes() {
        assert_eq!(WebhookSecret::parse(SECRET).unwrap().key().len(), 24);
        assert_eq!(WebhookSecret::parse(&format!("  {SECRET}\n")).unwrap().key().len(), 24);
        assert_eq!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::MissingPrefix));
        assert_eq!(WebhookSecret::parse("whsec_not base64!"), Err(SecretError::NotBase64));
        assert_eq!(WebhookSecret::parse("whsec_c2hvcnQ="), Err(SecretError::TooShort { bytes: 5 }));
        assert_eq!(format!("{:?}", WebhookSecret::parse(SECRET).unwrap()), "WebhookSecret(<redacted>)");
    }

    #[test]
    fn a_url_needs_the_secret_and_a_bad_setting_is_named() {
        let settings = |url: Option<&str>, secret: Option<&str>| EventSettings {
            webhook_url: url.map(str::to_owned),
            webhook_secret: secret.map(str::to_owned),
            ..EventSettings::default()
        };
        let error = settings(Some("https://hooks.example.com/in"), None).resolve().unwrap_err();
        assert_eq!(error, ConfigError::SecretRequired { setting: "EVO_WEBHOOK_URL" });
        assert!(error.to_string().contains("EVO_WEBHOOK_SECRET"), "{error}");
        let hook_only = EventSettings {
            pre_remove_hook_url: Some("http://127.0.0.1:9/hook".into()),
            ..EventSettings::default()
        };
        assert_eq!(
            hook_only.resolve().unwrap_err(),
            ConfigError::SecretRequired { setting: "EVO_PRE_REMOVE_HOOK_URL" }
        );
        let malformed = settings(Some("https://hooks.example.com/in"), Some("secret")).resolve().unwrap_err();
        assert_eq!(malformed, ConfigError::Secret(SecretError::MissingPrefix));
        assert!(!malformed.to_string().contains("secret\""), "{malformed}");
        assert!(matches!(
            settings(Some("ftp://hooks.example.com"), Some(SECRET)).resolve(),
            Err(ConfigError::BadUrl { setting: "EVO_WEBHOOK_URL", .. })
        ));
        assert!(matches!(
            settings(Some("hooks.example.com/in"), Some(SECRET)).resolve(),
            Err(ConfigError::BadUrl { .. })
        ));
        let none = settings(None, Some("")).resolve().unwrap();
        assert!(none.webhook.is_none() && none.hook.is_none());
        assert_eq!(none.retention.retention, Duration::from_secs(72 * 3600));
        let both = EventSettings {
            pre_remove_hook_url: Some("http://127.0.0.1:9/hook".into()),
            webhook_retry_hours: 2,
            pre_remove_hook_timeout_ms: 250,
            ..settings(Some(" https://hooks.example.com/in "), Some(SECRET))
        }
        .resolve()
        .unwrap();
        let webhook = both.webhook.unwrap();
        assert_eq!(
            (webhook.url.as_str(), webhook.retry_window),
            ("https://hooks.example.com/in", Duration::from_secs(7200))
        );
        assert_eq!(both.hook.unwrap().timeout, Duration::from_millis(250));
        let zero = EventSettings { pre_remove_hook_timeout_ms: 0, ..settings(None, None) };
        assert!(zero.resolve().is_ok(), "no hook, so its timeout is not used");
        let short_lease = EventSettings {
            webhook_lease_secs: 2,
            ..settings(Some("https://h.example.com/in"), Some(SECRET))
        };
        let error = short_lease.resolve().unwrap_err();
        assert_eq!(error, ConfigError::LeaseTooShort { lease: Duration::from_secs(2) });
        assert!(error.to_string().starts_with("EVO_WEBHOOK_LEASE_SECS"), "{error}");
        assert_eq!(both.retention.dead_letter_retention, Duration::from_secs(30 * 86_400));
        let no_dead_letters = EventSettings { dead_letter_retention_days: 0, ..settings(None, None) };
        assert_eq!(
            no_dead_letters.resolve().unwrap_err(),
            ConfigError::Zero { setting: "EVO_DEAD_LETTER_RETENTION_DAYS" }
        );
    }

    #[test]
    fn logs_see_no_credentials_of_a_url() {
        assert_eq!(
            redacted_url("https://user:pw@hooks.example.com:8443/in?token=x"),
            "https://hooks.example.com:8443/…"
        );
        assert_eq!(redacted_url("http://127.0.0.1:80"), "http://127.0.0.1:80");
        let config =
            WebhookConfig::new("https://u:p@h.example/x", WebhookSecret::parse(SECRET).unwrap()).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("u:p") && !shown.contains("MfKQ"), "{shown}");
    }
}
