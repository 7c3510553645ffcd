//! The settings of `run`: one clap struct, every flag also a `KPO_*` environment variable. The
//! flag names are fixed (scripts outside the project use them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::konnect::config::{ClientConfig, Token};

/// `run`'s own flags (the class/owner flags shared with `render` are in the CLI).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub konnect: KonnectArgs,
    /// How often Konnect is listed again to repair drift made out of band (e.g. 30s, 5m).
    #[arg(long, env = "KPO_SYNC_PERIOD", default_value = "5m", value_parser = parse_duration)]
    pub sync_period: Duration,
    /// How long to wait after a change for more changes before a pass.
    #[arg(long, env = "KPO_DEBOUNCE", default_value = "50ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Address of the admin server (/metrics, /livez, /readyz).
    #[arg(long, env = "KPO_ADMIN_ADDRESS", default_value = "0.0.0.0:8080")]
    pub admin_address: SocketAddr,
    /// Namespaces to watch, comma-separated (default: all).
    #[arg(long, env = "KPO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// `manage`: write services, routes, consumers and groups. `reference`: only attach
    /// plugins to parents someone else manages.
    #[arg(long, env = "KPO_PARENT_MODE", value_enum, default_value_t = ParentMode::Manage)]
    pub parent_mode: ParentMode,
    /// Do everything except writing to Konnect and to status: planned writes are logged and
    /// counted.
    #[arg(long, env = "KPO_DRY_RUN")]
    pub dry_run: bool,
    /// Elect a leader by Lease: only the leader writes to Konnect and status. Turn on when
    /// running more than one replica.
    #[arg(long, env = "KPO_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (default: the Pod's namespace, else `default`).
    #[arg(long, env = "KPO_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Konnect requests per minute, shared by every call of this process.
    #[arg(long, env = "KPO_KONNECT_REQUESTS_PER_MINUTE", default_value_t = ClientConfig::DEFAULT_REQUESTS_PER_MINUTE)]
    pub konnect_requests_per_minute: u32,
    /// Konnect requests in flight at once.
    #[arg(long, env = "KPO_KONNECT_CONCURRENCY", default_value_t = ClientConfig::DEFAULT_MAX_CONCURRENCY)]
    pub konnect_concurrency: usize,
    /// Timeout of one Konnect request (e.g. 30s).
    #[arg(long, env = "KPO_KONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub konnect_timeout: Duration,
    /// The share of managed entities one pass may delete; a pass that would delete more
    /// deletes nothing and reports it (0.0 to 1.0).
    #[arg(long, env = "KPO_MAX_DELETE_SHARE", default_value_t = 0.5, value_parser = parse_share)]
    pub max_delete_share: f64,
    /// Address of the validating admission webhook (HTTPS, `POST /validate`), e.g.
    /// 0.0.0.0:8443. Empty: no webhook.
    #[arg(long, env = "KPO_WEBHOOK_ADDRESS", default_value = "", value_parser = parse_optional_addr)]
    pub webhook_address: MaybeAddr,
    /// Directory holding the webhook's certificate and key (`tls.crt`, `tls.key`); read again
    /// when they change.
    #[arg(
        long,
        env = "KPO_WEBHOOK_CERT_DIR",
        default_value = "/etc/konnect-plugin-operator/webhook"
    )]
    pub webhook_cert_dir: PathBuf,
}

/// An optional address, `""` for none (a type alias: clap reads a literal `Option` as "flag
/// may be absent" and would parse the inner type itself).
pub type MaybeAddr = Option<SocketAddr>;

/// An address, or none for the empty string.
pub fn parse_optional_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| format!("{s:?} is not an address such as 0.0.0.0:8443: {e}"))
}

/// Where the Konnect control plane is and how to authenticate (shared by `run` and `diff`).
#[derive(clap::Args, Debug, Clone)]
pub struct KonnectArgs {
    /// Konnect API: a URL such as http://127.0.0.1:8080 (the emulator) or a region
    /// us|eu|au|me|in|sg.
    #[arg(long, env = "KPO_KONNECT_SERVER", default_value = "us")]
    pub konnect_server: String,
    /// File holding the Konnect token (kpat_/spat_), e.g. a mounted Secret. Without it the
    /// token is read from KPO_KONNECT_TOKEN. Never logged.
    #[arg(long, env = "KPO_KONNECT_TOKEN_FILE")]
    pub konnect_token_file: Option<PathBuf>,
    /// The control plane, by name or id.
    #[arg(long, env = "KPO_CONTROL_PLANE")]
    pub control_plane: String,
}

impl KonnectArgs {
    /// The token: from the file, else from KPO_KONNECT_TOKEN.
    pub fn token(&self) -> anyhow::Result<Token> {
        use anyhow::Context;
        match &self.konnect_token_file {
            Some(path) => Ok(Token::from_file(path)?),
            None => Token::from_env("KPO_KONNECT_TOKEN").context(
                "no Konnect token: set --konnect-token-file (KPO_KONNECT_TOKEN_FILE) or KPO_KONNECT_TOKEN",
            ),
        }
    }
}

/// Who writes the parent entities plugins attach to.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentMode {
    Manage,
    Reference,
}

/// A share between 0 and 1.
pub fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0.0 and 1.0")),
    }
}

/// Parses `30s`, `5m`, `1h 30m`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let span: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a duration such as 30s, 5m or 250ms: {e}"))?;
    Duration::try_from(span).map_err(|_| format!("{s:?} must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl_flags() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(parse_share("0.5"), Ok(0.5));
        assert!(parse_share("NaN").is_err());
        assert!(parse_share("1.5").is_err());
    }

    #[test]
    fn an_empty_webhook_address_means_no_webhook() {
        assert_eq!(parse_optional_addr(""), Ok(None));
        assert_eq!(
            parse_optional_addr("0.0.0.0:8443"),
            Ok(Some(SocketAddr::from(([0, 0, 0, 0], 8443))))
        );
        assert!(parse_optional_addr(":8443").is_err());
    }
}
