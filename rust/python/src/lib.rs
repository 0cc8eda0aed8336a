//! `stochamort._core`: the PyO3 glue over `stochamort-core`. Each function borrows its numpy
//! inputs while holding the GIL, runs the core with the GIL released (rayon inside), and hands
//! the result back as numpy arrays. Errors become `stochamort.errors` classes; panics never escape.

mod convert;
mod errors;
mod functions;

use pyo3::prelude::*;

/// After `fork`, a child must not use the parent's rayon pool (its threads do not exist there).
extern "C" fn child_after_fork() {
    if stochamort_core::parallelism_used() {
        stochamort_core::set_parallelism(false);
    }
}

fn parallelism_from_env() {
    if let Ok(value) = std::env::var("STOCHAMORT_PARALLELISM") {
        let off = matches!(value.to_ascii_lowercase().as_str(), "0" | "false" | "off" | "no");
        stochamort_core::set_parallelism(!off);
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    parallelism_from_env();
    // SAFETY: registering a plain `extern "C"` handler that only stores an atomic flag.
    unsafe {
        libc::pthread_atfork(None, None, Some(child_after_fork));
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_EXACT_PLAYERS", stochamort_core::MAX_EXACT_PLAYERS)?;
    functions::register(m)
}
