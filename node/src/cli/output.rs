//! How client commands print: aligned tables for people, JSON for scripts.
//! Progress goes to stderr as a bar on a terminal and as plain lines
//! otherwise, so stdout stays parseable.
//!
//! Everything printed to stdout goes through [`outln!`], never `println!`
//! (which panics when stdout is a closed pipe, `vexil export | head`): a
//! failed write becomes a [`CliError`], and a closed pipe a quiet exit.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::CliError;

/// Writes one line to stdout (see [`outln!`]).
pub fn line(args: std::fmt::Arguments) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{args}").map_err(CliError::stdout)
}

/// `println!` for the client commands: returns `Result<(), CliError>`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `--output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Prints `value` as pretty JSON.
pub fn json(value: &Value) -> Result<(), CliError> {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    )
}

/// Prints an object's fields as `name  value` lines (a document in
/// `--output table`): scalars bare, lists and objects as compact JSON.
pub fn record(value: &Value) -> Result<(), CliError> {
    let Some(fields) = value.as_object() else {
        return json(value);
    };
    let width = fields.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (name, v) in fields {
        let shown = match (name.as_str(), v) {
            ("variations", Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| format!("{i}: {}", cell(item.get("value").or(Some(item)))))
                .collect::<Vec<_>>()
                .join(", "),
            (_, Value::Array(items)) if items.is_empty() => "-".to_owned(),
            _ => cell(Some(v)),
        };
        outln!("{name:<width$}  {shown}")?;
    }
    Ok(())
}

/// A cell: strings bare, `null` as `-`, anything else as JSON.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Prints rows under upper-case headers, columns padded to their widths.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end())
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect())?;
    for row in rows {
        line(row.clone())?;
    }
    Ok(())
}

/// Rows of `fields` picked from each object in `items`.
pub fn rows(items: &[Value], fields: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| fields.iter().map(|f| cell(item.get(*f))).collect())
        .collect()
}

/// Progress of a long command: a bar on a terminal, plain lines on stderr
/// (about every tenth of the way) otherwise.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    total: u64,
    done: u64,
    /// The last tenth reported as a plain line.
    reported: u64,
}

impl Progress {
    /// `total` steps (items, or bytes when `bytes`).
    pub fn new(what: &str, total: u64, bytes: bool) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = if bytes {
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})"
            } else {
                "{msg} [{bar:40}] {pos}/{len} ({eta})"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_owned());
            bar
        });
        Progress {
            bar,
            what: what.to_owned(),
            total,
            done: 0,
            reported: 0,
        }
    }

    /// Moves to `done` steps.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.total > 0 => {
                let tenth = done.saturating_mul(10) / self.total;
                if tenth > self.reported {
                    self.reported = tenth;
                    eprintln!("{}: {done}/{}", self.what, self.total);
                }
            }
            None => {}
        }
    }

    pub fn inc(&mut self) {
        self.set(self.done + 1);
    }

    /// Prints a line above the bar (or plainly).
    pub fn println(&self, line: &str) -> Result<(), CliError> {
        match &self.bar {
            Some(bar) => bar.suspend(|| outln!("{line}")),
            None => outln!("{line}"),
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
