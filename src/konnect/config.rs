//! Client configuration: where Konnect is ([`ServerUrl`]), the secret to reach it
//! ([`Token`], never printable), and the request budget.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use super::error::Error;

/// Konnect regions with a public API host `https://{region}.api.konghq.com`.
pub const REGIONS: [&str; 6] = ["us", "eu", "au", "me", "in", "sg"];

/// The API base, always ending in the `/v2` prefix that the specs' paths are relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl(Url);

impl ServerUrl {
    /// Accepts a region shorthand (`us`, `eu`, `au`, `me`, `in`, `sg`) or a full http(s) URL.
    /// A URL without a path gets `/v2` appended (`https://eu.api.konghq.com` works too).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if REGIONS.contains(&lower.as_str()) {
            return Self::parse(&format!("https://{lower}.api.konghq.com/v2"));
        }
        let mut url = Url::parse(s).map_err(|e| {
            Error::invalid(format!(
                "server {s:?} is neither a region ({}) nor a URL: {e}",
                REGIONS.join(", ")
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(Error::invalid(format!("server URL {s:?} must be http(s)")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Credentials in a URL end up in logs; the token goes in its own setting.
            return Err(Error::invalid("server URL must not carry credentials"));
        }
        url.set_query(None);
        url.set_fragment(None);
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(if path.is_empty() { "/v2" } else { &path });
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// `base + segments`, each segment percent-encoded.
    pub(crate) fn join<S: AsRef<str>>(&self, segments: &[S]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s.as_ref());
            }
        }
        url
    }
}

impl FromStr for ServerUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A Konnect personal or system access token. Debug and Display print `<redacted>`; the only
/// way to the value is [`Token::expose`], used to build the Authorization header.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token value; surrounding whitespace is trimmed. Fails on an empty value.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("the Konnect token is empty"));
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            // It would not fit an HTTP header; say so without echoing it.
            return Err(Error::invalid(
                "the Konnect token contains whitespace or control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Reads a token from a file (a mounted Secret), trimming whitespace and newlines.
    /// The error names the path, never the content.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let content = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(format!("cannot read token file {}: {e}", path.display()))
        })?;
        Self::new(content).map_err(|e| match e {
            Error::Invalid { message } => {
                Error::invalid(format!("token file {}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// Reads a token from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        let value = std::env::var(var).map_err(|_| {
            Error::invalid(format!("environment variable {var} is unset or not UTF-8"))
        })?;
        Self::new(value)
    }

    /// The secret value. Use it only to build the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything the client needs. Build with [`ClientConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub server: ServerUrl,
    pub token: Token,
    /// The shared budget across all clones of the client (Konnect limits per organization).
    pub requests_per_minute: u32,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Per attempt, from sending to the end of the body.
    pub request_timeout: Duration,
    /// Retries after the first attempt for 5xx and transport errors (idempotent calls only).
    /// 429s do not count: they are bounded by `rate_limit_deadline` instead.
    pub max_retries: u32,
    /// How long one call may keep waiting out 429s (from its first attempt) before the 429 is
    /// returned to the caller. A 429 means Konnect did not process the request, so waiting is
    /// always safe; this only bounds how long a caller can be held.
    pub rate_limit_deadline: Duration,
    /// First backoff delay; doubles per attempt, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl ClientConfig {
    pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 2400;
    pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_RETRIES: u32 = 5;
    pub const DEFAULT_RATE_LIMIT_DEADLINE: Duration = Duration::from_secs(600);

    pub fn new(server: ServerUrl, token: Token) -> Self {
        Self {
            server,
            token,
            requests_per_minute: Self::DEFAULT_REQUESTS_PER_MINUTE,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            rate_limit_deadline: Self::DEFAULT_RATE_LIMIT_DEADLINE,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_expand_to_the_public_hosts() {
        for r in REGIONS {
            assert_eq!(
                ServerUrl::parse(r).unwrap().to_string(),
                format!("https://{r}.api.konghq.com/v2")
            );
        }
        assert_eq!(
            ServerUrl::parse("EU").unwrap().to_string(),
            "https://eu.api.konghq.com/v2"
        );
    }

    #[test]
    fn full_urls_are_kept_and_get_v2_when_pathless() {
        assert_eq!(
            ServerUrl::parse("http://127.0.0.1:8080/v2/")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/v2"
        );
        assert_eq!(
            ServerUrl::parse("https://eu.api.konghq.com")
                .unwrap()
                .to_string(),
            "https://eu.api.konghq.com/v2"
        );
        assert!(ServerUrl::parse("mars").is_err());
        assert!(ServerUrl::parse("ftp://x/v2").is_err());
        assert!(ServerUrl::parse("https://user:pw@x/v2").is_err());
    }

    #[test]
    fn join_encodes_segments() {
        let s = ServerUrl::parse("http://h/v2").unwrap();
        assert_eq!(
            s.join(&["control-planes", "a b", "x/y"]).as_str(),
            "http://h/v2/control-planes/a%20b/x%2Fy"
        );
    }

    #[test]
    fn token_never_prints() {
        let t = Token::new("kpat_canary123\n").unwrap();
        assert_eq!(t.expose(), "kpat_canary123");
        assert!(!format!("{t:?} {t}").contains("canary"));
        let cfg = ClientConfig::new(ServerUrl::parse("us").unwrap(), t);
        assert!(!format!("{cfg:?}").contains("canary"));
        assert!(Token::new("  \n").is_err());
        let e = Token::new("kpat canary").unwrap_err();
        assert!(!e.to_string().contains("canary"));
    }

    #[test]
    fn token_from_file_trims() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "  spat_abc\n\n").unwrap();
        assert_eq!(Token::from_file(&p).unwrap().expose(), "spat_abc");
        let missing = Token::from_file(dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"));
    }

    #[test]
    fn token_from_env() {
        // A variable name unique to this test, so parallel tests cannot interfere.
        let var = "KPO_TEST_TOKEN_FROM_ENV_UNSET";
        assert!(Token::from_env(var).is_err());
    }
}
