//! [`CliError`]: what a client command reports, and the exit code it maps
//! to (the table is in the README and docs/OPERATIONS.md).

/// Exit codes of the client commands.
pub mod exit {
    pub const OK: u8 = 0;
    /// Anything else: a server error, a local IO error, a damaged backup.
    pub const FAILURE: u8 = 1;
    /// Bad arguments or options, an unreadable input file, or a request the
    /// server refused as invalid (400, 413, 415, 428).
    pub const USAGE: u8 = 2;
    /// The flag, segment, token, version or member does not exist (404).
    pub const NOT_FOUND: u8 = 3;
    /// A version conflict, a key that exists, something still in use (409).
    pub const CONFLICT: u8 = 4;
    /// No token, an unknown one, or a role too low (401, 403).
    pub const UNAUTHORIZED: u8 = 5;
    /// The node cannot be reached, or the cluster cannot serve now (503,
    /// 507, connection refused, timeout): retry later.
    pub const UNAVAILABLE: u8 = 6;
    /// Stdout was closed before everything was printed (`vexil … | head`):
    /// no message, and the status a shell shows for a process that SIGPIPE
    /// stopped (128 + 13), as git and kubectl exit.
    pub const STDOUT_CLOSED: u8 = 141;
}

/// What an operator can run to see whether a change whose answer never
/// came was made.
const CHECK_CHANGE: &str = "the change may still complete: check with `vexil audit list` (or \
`vexil flags get KEY`) before retrying";

/// A failed client command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A bad command line or input file.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error.
    #[error("{status}: {code}: {message}{}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api {
        status: u16,
        /// The `error` code of the body (`version_conflict`, …).
        code: String,
        message: String,
        field: Option<String>,
    },
    /// The node could not be reached: no connection was made, so nothing
    /// was sent.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The node was reached, but no answer came in time (or the connection
    /// broke before it did): a change may still be made.
    #[error("{what}{}", if *change { format!("; {CHECK_CHANGE}") } else { String::new() })]
    NoAnswer {
        /// What happened, naming the node and the limit.
        what: String,
        /// The request was a change (not a GET).
        change: bool,
    },
    /// Something answered at the URL, but not as a Vexil node does.
    #[error(
        "{url} does not look like a Vexil node: {request} answered {status} without a Vexil error; check --url (a node's API address)"
    )]
    NotVexil {
        url: String,
        /// `GET /v1/flags/x`.
        request: String,
        /// `404 Not Found`.
        status: String,
        /// The status code, for the exit code.
        code: u16,
    },
    /// Stdout was closed by its reader: exit quietly.
    #[error("stdout was closed")]
    StdoutClosed,
    /// A local failure (files, a damaged backup).
    #[error("{0}")]
    Local(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Unreachable { .. } | CliError::NoAnswer { .. } => exit::UNAVAILABLE,
            CliError::NotVexil { code, .. } => match code {
                502..=504 => exit::UNAVAILABLE,
                _ => exit::FAILURE,
            },
            CliError::StdoutClosed => exit::STDOUT_CLOSED,
            CliError::Local(_) => exit::FAILURE,
            CliError::Api { status, .. } => match status {
                400 | 405 | 413 | 415 | 422 | 428 => exit::USAGE,
                401 | 403 => exit::UNAUTHORIZED,
                404 => exit::NOT_FOUND,
                409 | 412 => exit::CONFLICT,
                502..=504 | 507 => exit::UNAVAILABLE,
                _ => exit::FAILURE,
            },
        }
    }

    /// A local failure with context.
    pub fn local(context: &str, e: impl std::fmt::Display) -> Self {
        CliError::Local(format!("{context}: {e}"))
    }

    /// An input file that cannot be read: a usage error (exit 2), naming
    /// the file.
    pub fn input(path: &std::path::Path, e: &std::io::Error) -> Self {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        };
        CliError::Usage(format!("cannot read {}: {why}", path.display()))
    }

    /// A failed write to stdout: a closed pipe ends the command quietly.
    pub fn stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::StdoutClosed
        } else {
            CliError::local("writing to stdout", e)
        }
    }
}

impl From<vexil_storage::StorageError> for CliError {
    fn from(e: vexil_storage::StorageError) -> Self {
        CliError::Local(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> CliError {
        CliError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
            field: None,
        }
    }

    #[test]
    fn statuses_map_to_distinct_codes() {
        assert_eq!(api(400).exit_code(), exit::USAGE);
        assert_eq!(api(401).exit_code(), exit::UNAUTHORIZED);
        assert_eq!(api(403).exit_code(), exit::UNAUTHORIZED);
        assert_eq!(api(404).exit_code(), exit::NOT_FOUND);
        assert_eq!(api(409).exit_code(), exit::CONFLICT);
        assert_eq!(api(503).exit_code(), exit::UNAVAILABLE);
        assert_eq!(api(500).exit_code(), exit::FAILURE);
    }
}
