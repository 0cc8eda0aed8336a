//! Map core errors, dtype problems and panics to the classes of `stochamort.errors`.

use pyo3::prelude::*;
use pyo3::types::PyType;
use stochamort_core::CoreError;

/// Raise the `stochamort.errors` class `class` with `message`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    match py
        .import("stochamort.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
    {
        Ok(cls) => PyErr::from_type(cls, message),
        Err(err) => err,
    }
}

/// The one conversion from core errors to Python exceptions.
pub(crate) fn core_error(py: Python<'_>, err: CoreError) -> PyErr {
    let class = match &err {
        CoreError::InvalidArgument { .. } => "InvalidArgumentError",
        CoreError::Shape { .. } => "ShapeError",
        CoreError::NonFinite { .. } => "NonFiniteError",
        CoreError::InsufficientSamples { .. } => "InsufficientSamplesError",
        CoreError::Singular { .. } => "SingularSystemError",
        CoreError::TooManyPlayers { .. } => "TooManyPlayersError",
    };
    raise(py, class, err.to_string())
}

/// Run `work` without the GIL, turning core errors and panics into Python exceptions.
pub(crate) fn compute<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, CoreError> + Send,
{
    let outcome = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(core_error(py, err)),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(raise(py, "StochamortError", format!("internal error in the Rust core ({detail}); please report it")))
        }
    }
}
