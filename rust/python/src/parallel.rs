//! The core's thread parallelism: the process-wide switch, `STOCHAMORT_PARALLELISM`, and fork
//! safety (a child of `fork` must not use the parent's rayon pool, whose threads do not exist there).

use pyo3::prelude::*;
use stochamort_core as core;

use crate::args::flag;

/// After `fork`, run the core serially in the child if the parent had started rayon's pool.
extern "C" fn child_after_fork() {
    if core::parallelism_used() {
        core::set_parallelism(false);
    }
}

fn parallelism_from_env() {
    if let Ok(value) = std::env::var("STOCHAMORT_PARALLELISM") {
        let off = matches!(value.to_ascii_lowercase().as_str(), "0" | "false" | "off" | "no");
        core::set_parallelism(!off);
    }
}

/// Switch the core's rayon parallelism on or off for this process.
#[pyfunction]
fn set_parallelism(enabled: &Bound<'_, PyAny>) -> PyResult<()> {
    core::set_parallelism(flag(enabled, "enabled")?);
    Ok(())
}

/// Whether the core may use several threads.
#[pyfunction]
fn parallelism_enabled() -> bool {
    core::parallelism_enabled()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    parallelism_from_env();
    // SAFETY: registering a plain `extern "C"` handler that only stores an atomic flag.
    unsafe {
        libc::pthread_atfork(None, None, Some(child_after_fork));
    }
    add_functions!(m, set_parallelism, parallelism_enabled)
}
