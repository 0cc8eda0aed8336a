//! `stochamort._core`: the PyO3 glue over `stochamort-core`, one module per domain, each with its
//! own `register`. Each function borrows its numpy inputs while holding the GIL, runs the core with
//! the GIL released (rayon inside), and hands the result back as numpy arrays. Errors become the
//! classes of `stochamort.errors` (see [`errors`]); panics never escape.

/// Add the `#[pyfunction]`s to the module: `add_functions!(m, f, g, …)`.
macro_rules! add_functions {
    ($module:expr, $($function:ident),+ $(,)?) => {{
        $($module.add_function(pyo3::wrap_pyfunction!($function, $module)?)?;)+
        Ok(())
    }};
}

mod args;
mod errors;
mod estimators;
mod limits;
mod parallel;
mod sampling;
mod valuation;
mod weights;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::check_classes(m.py())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    parallel::register(m)?;
    limits::register(m)?;
    sampling::register(m)?;
    weights::register(m)?;
    estimators::register(m)?;
    valuation::register(m)
}
