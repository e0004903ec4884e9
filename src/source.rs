//! Configuration sources (route files, policies, price tables, the config
//! file) and the one error type that points into them: a leaf, so every
//! module that loads a file reports problems the same way without knowing
//! the top-level configuration.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a configuration source (route file, policy, config file),
/// with the file and, where known, the line and column.
#[derive(Debug, Clone)]
pub struct SourceError {
    pub origin: PathBuf,
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl SourceError {
    pub fn io(origin: &Path, e: std::io::Error) -> SourceError {
        SourceError {
            origin: origin.to_owned(),
            line: None,
            message: e.to_string(),
        }
    }

    pub fn toml(origin: &Path, text: &str, e: &toml::de::Error) -> SourceError {
        let line = e.span().map(|span| line_col(text, span.start));
        SourceError {
            origin: origin.to_owned(),
            line,
            message: e.message().to_owned(),
        }
    }

    pub fn semantic(origin: &Path, message: String) -> SourceError {
        SourceError {
            origin: origin.to_owned(),
            line: None,
            message,
        }
    }

    /// Attaches the line of the first occurrence of `needle` when no line is
    /// known yet (semantic checks run after parsing, without spans).
    pub fn near(mut self, text: &str, needle: &str) -> SourceError {
        if self.line.is_none() {
            if let Some(pos) = text.find(needle) {
                self.line = Some(line_col(text, pos));
            }
        }
        self
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.origin.display(), self.message),
            None => write!(f, "{}: {}", self.origin.display(), self.message),
        }
    }
}

impl std::error::Error for SourceError {}
