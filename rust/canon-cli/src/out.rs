//! Standard output. Every command prints through one buffered [`Out`]; a
//! write error becomes an [`OutputError`]. `main` treats a closed pipe (the
//! reader stopped, as `head` does) as a clean exit and any other write error
//! (a full disk, `/dev/full`) as a failure with a message.
//!
//! Standard error is written with [`stderrln!`] / [`stderr!`], never
//! `eprintln!`: a message that cannot be written (the reader of `2>&1 | head`
//! stopped, or stderr is a full disk) is dropped, since there is nowhere left
//! to report it, instead of panicking (exit 101) after the work is done.

use std::fmt;
use std::io::{self, BufWriter, Stdout, Write};

/// `eprint!` whose failed write is dropped (see the module docs).
macro_rules! stderr {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprintln!` whose failed write is dropped (see the module docs).
macro_rules! stderrln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub(crate) use {stderr, stderrln};

/// Buffered standard output.
pub struct Out(BufWriter<Stdout>);

/// Writing to standard output failed.
#[derive(Debug)]
pub struct OutputError(pub io::Error);

impl OutputError {
    /// The reader closed its end: not a failure of ours.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Out {
    pub fn stdout() -> Out {
        Out(BufWriter::with_capacity(64 * 1024, io::stdout()))
    }

    /// What `write!`/`writeln!` call: formatted text, with a typed error.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), OutputError> {
        self.0.write_fmt(args).map_err(OutputError)
    }

    /// Text as it is.
    pub fn text(&mut self, s: &str) -> Result<(), OutputError> {
        self.0.write_all(s.as_bytes()).map_err(OutputError)
    }

    /// The buffered writer itself, for what streams (`replay show`); map
    /// its errors to [`OutputError`].
    pub fn writer(&mut self) -> &mut BufWriter<Stdout> {
        &mut self.0
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        self.0.flush().map_err(OutputError)
    }
}
