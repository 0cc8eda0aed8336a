//! Errors of the core. Every fallible function returns [`CoreResult`]; the glue crate maps each
//! variant to one Python exception class, so the variants mirror `stochamort.errors`.

use thiserror::Error;

/// An error of the combinatorial core. `name` is always the argument at fault; `points` (`point`)
/// are the points the error concerns, as indices along the first axis of the call's arrays (empty
/// when it concerns no point in particular), so that a caller can renumber them.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// An argument has a value the function cannot accept.
    #[error("{name}: {reason}")]
    InvalidArgument {
        name: &'static str,
        reason: String,
        points: Vec<usize>,
    },
    /// An array argument has the wrong shape.
    #[error("{name}: expected shape {expected}, got {got}")]
    Shape {
        name: &'static str,
        expected: String,
        got: String,
    },
    /// An input holds NaN or infinity at the listed points.
    #[error("{name}: contains NaN or infinity at point(s) {}", format_points(.points))]
    NonFinite { name: &'static str, points: Vec<usize> },
    /// The budget is too small for the estimator.
    #[error("{name}: {reason}")]
    InsufficientSamples {
        name: &'static str,
        reason: String,
        points: Vec<usize>,
    },
    /// A least-squares system is singular for one point.
    #[error("{name}: the system for point {point} is singular ({reason}); sample more coalitions")]
    Singular {
        name: &'static str,
        point: usize,
        reason: String,
    },
    /// The request would allocate more memory than one call may (see `limits`).
    #[error("{name}: the request needs {request}, more than the memory limit of {}; ask for less (in batches) or raise the limit with stochamort.set_memory_limit", crate::limits::human_bytes(*.limit))]
    TooLarge {
        name: &'static str,
        request: String,
        limit: u64,
    },
    /// Exact enumeration was asked for more players than supported.
    #[error("{name}: exact enumeration supports at most {max} players, got {got}")]
    TooManyPlayers {
        name: &'static str,
        max: usize,
        got: usize,
    },
}

/// Shorthand for results of the core.
pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::invalid_at(name, vec![], reason)
    }

    /// An invalid argument because of what it holds at the given points.
    pub(crate) fn invalid_at(name: &'static str, points: Vec<usize>, reason: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            name,
            reason: reason.into(),
            points,
        }
    }

    pub(crate) fn insufficient(name: &'static str, reason: impl Into<String>) -> Self {
        Self::insufficient_at(name, vec![], reason)
    }

    /// Too few samples for the estimator at the given points.
    pub(crate) fn insufficient_at(name: &'static str, points: Vec<usize>, reason: impl Into<String>) -> Self {
        CoreError::InsufficientSamples {
            name,
            reason: reason.into(),
            points,
        }
    }

    pub(crate) fn shape(name: &'static str, expected: impl Into<String>, got: &[usize]) -> Self {
        CoreError::Shape {
            name,
            expected: expected.into(),
            got: format!("{got:?}"),
        }
    }
}

const LISTED_POINTS: usize = 10;

fn format_points(points: &[usize]) -> String {
    let shown: Vec<String> = points.iter().take(LISTED_POINTS).map(|p| p.to_string()).collect();
    if points.len() > LISTED_POINTS {
        format!("{} and {} more", shown.join(", "), points.len() - LISTED_POINTS)
    } else {
        shown.join(", ")
    }
}
