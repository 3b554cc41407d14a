//! One error type for the library: every variant renders as one line naming the file or option.
use std::path::{Path, PathBuf};

/// What went wrong, with the file or option it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    // Not marked as the error's source: the message already holds it, and `{:#}` would print it twice.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    /// A file's contents are not in the expected format.
    #[error("{}: {what}", path.display())]
    Format { path: PathBuf, what: String },
    /// A configuration key or command-line option has a bad value.
    #[error("{0}")]
    Config(String),
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Training diverged (NaN or infinite loss); the last good checkpoint is kept.
    #[error("{0}")]
    Diverged(String),
    /// A model's outputs are NaN or infinite, so no score can be computed from them.
    #[error("{0}")]
    NotFinite(String),
    /// A distributed job lost a rank or could not form (docs/distributed.md).
    #[error("distributed: {0}")]
    Distributed(String),
    /// The run was interrupted (Ctrl-C); a resumable checkpoint was written.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, cause: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), cause }
    }
    /// A format error in `path`.
    pub fn format(path: &Path, what: impl Into<String>) -> Self {
        Error::Format { path: path.to_path_buf(), what: what.into() }
    }
}

/// Adds the path to an I/O result.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// A message (a parser's, often several lines) on one line, its whitespace runs collapsed.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
