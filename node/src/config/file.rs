//! `vexil serve --config vexil.toml`: the same options as the flags, in
//! TOML, with keys named as the flags without `--` (`data-dir`,
//! `initial-cluster`, `backup-every` …).
//!
//! Precedence: a flag, then its `VEXIL_…` variable, then the file, then the
//! default. An unknown key or a value of the wrong type refuses to start
//! and names the key (and its line); a value of the right type that is
//! invalid is caught by `ServeArgs::validate`, which names the option.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

use super::{ConfigError, LogFormat, ServeArgs, ServeConfig};

/// Every option a config file may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub id: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub peer_listen: Option<String>,
    pub advertise_client: Option<String>,
    pub advertise_peer: Option<String>,
    pub initial_cluster: Option<String>,
    pub join: Option<bool>,
    pub cluster_secret: Option<String>,
    pub admin_token: Option<String>,
    pub log_format: Option<LogFormat>,
    pub heartbeat_ms: Option<u64>,
    pub election_timeout_min_ms: Option<u64>,
    pub election_timeout_max_ms: Option<u64>,
    pub snapshot_every: Option<u64>,
    pub keep_logs: Option<u64>,
    pub write_timeout_ms: Option<u64>,
    pub min_free_mb: Option<u64>,
    pub backup_dir: Option<PathBuf>,
    pub backup_every: Option<String>,
    pub backup_keep: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub peer_max_connections: Option<usize>,
    pub peer_max_connections_per_ip: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub write_stall_timeout_ms: Option<u64>,
    pub auth_failure_limit: Option<u32>,
    pub auth_failure_window_secs: Option<u64>,
    pub stream_max_per_token: Option<usize>,
    pub stream_max_per_ip: Option<usize>,
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        field: "config",
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError {
        field: "config",
        message: format!("{}: {e}", path.display()),
    })
}

/// Whether the command line or the environment set option `id`.
fn explicit(matches: Option<&ArgMatches>, id: &str) -> bool {
    matches.is_some_and(|m| {
        matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    })
}

impl ServeArgs {
    /// Takes each option the file sets unless a flag or variable set it
    /// (`matches` is `serve`'s; `None` takes every option from the file).
    /// Returns the options, as flag names, that came from the file.
    pub fn merge_file(
        &mut self,
        file: FileConfig,
        matches: Option<&ArgMatches>,
    ) -> Vec<&'static str> {
        let mut from_file = Vec::new();
        macro_rules! take {
            ($($field:ident: $name:literal),* $(,)?) => {$(
                if let Some(v) = file.$field {
                    if !explicit(matches, stringify!($field)) {
                        self.$field = v.into();
                        from_file.push($name);
                    }
                }
            )*};
        }
        take!(
            id: "id", data_dir: "data-dir", listen: "listen", peer_listen: "peer-listen",
            advertise_client: "advertise-client", advertise_peer: "advertise-peer",
            initial_cluster: "initial-cluster", join: "join", cluster_secret: "cluster-secret",
            admin_token: "admin-token", log_format: "log-format", heartbeat_ms: "heartbeat-ms",
            election_timeout_min_ms: "election-timeout-min-ms",
            election_timeout_max_ms: "election-timeout-max-ms", snapshot_every: "snapshot-every",
            keep_logs: "keep-logs", write_timeout_ms: "write-timeout-ms", min_free_mb: "min-free-mb",
            backup_dir: "backup-dir", backup_every: "backup-every", backup_keep: "backup-keep",
            max_connections: "max-connections", max_connections_per_ip: "max-connections-per-ip",
            peer_max_connections: "peer-max-connections",
            peer_max_connections_per_ip: "peer-max-connections-per-ip",
            header_read_timeout_ms: "header-read-timeout-ms", idle_timeout_ms: "idle-timeout-ms",
            write_stall_timeout_ms: "write-stall-timeout-ms",
            auth_failure_limit: "auth-failure-limit",
            auth_failure_window_secs: "auth-failure-window-secs",
            stream_max_per_token: "stream-max-per-token", stream_max_per_ip: "stream-max-per-ip",
        );
        from_file
    }

    /// Reads `--config` (if given) under the flags, then validates. An
    /// invalid option that came from the file is reported as the file's key.
    pub fn resolve(mut self, matches: Option<&ArgMatches>) -> Result<ServeConfig, ConfigError> {
        let from_file = match self.config.clone() {
            Some(path) => {
                let file = load(&path)?;
                let keys = self.merge_file(file, matches);
                Some((path, keys))
            }
            None => None,
        };
        self.validate().map_err(|e| match &from_file {
            Some((path, keys)) if keys.contains(&e.field) => ConfigError {
                field: e.field,
                message: format!("{} (key `{}` in {})", e.message, e.field, path.display()),
            },
            _ => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let e = toml::from_str::<FileConfig>("listen = \"127.0.0.1:1\"\nlisten-port = 3\n")
            .unwrap_err();
        assert!(e.to_string().contains("listen-port"), "{e}");
        let e = toml::from_str::<FileConfig>("heartbeat-ms = \"fast\"\n").unwrap_err();
        assert!(e.to_string().contains("heartbeat-ms"), "{e}");
    }

    #[test]
    fn the_file_fills_what_flags_leave_unset() {
        let file: FileConfig = toml::from_str("id = 3\nbackup-keep = 0\n").unwrap();
        let mut args = ServeArgs::default();
        let keys = args.merge_file(file, None);
        assert_eq!(args.id, 3);
        assert_eq!(keys, vec!["id", "backup-keep"]);
    }
}
