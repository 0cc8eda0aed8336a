//! The memory limit of one core call: a share of this machine's (or this container's) memory by
//! default, `STOCHAMORT_MEMORY_LIMIT` (bytes) at import, or `set_memory_limit` at any time.

use pyo3::prelude::*;
use stochamort_core as core;

use crate::args::unsigned;

/// The default limit: this share of physical memory (or of the cgroup's limit when lower).
const DEFAULT_SHARE: f64 = 0.75;

/// Physical memory in bytes, lowered to the cgroup (v2 or v1) limit when there is one.
fn available_memory() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGE_SIZE)) };
    let physical = (pages > 0 && page_size > 0).then(|| (pages as u64).saturating_mul(page_size as u64));
    let cgroup = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .filter_map(|text| text.trim().parse::<u64>().ok())
        .min();
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

/// The limit a fresh process starts with.
pub(crate) fn default_limit() -> u64 {
    available_memory().map_or(u64::MAX, |bytes| (bytes as f64 * DEFAULT_SHARE) as u64)
}

/// Set the most bytes one call of the core may allocate; None restores the default.
#[pyfunction]
#[pyo3(signature = (limit=None))]
fn set_memory_limit(limit: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let bytes = match limit.filter(|v| !v.is_none()) {
        Some(value) => unsigned(value, "limit")?,
        None => default_limit(),
    };
    core::set_memory_limit(bytes);
    Ok(())
}

/// The most bytes one call of the core may allocate.
#[pyfunction]
fn memory_limit() -> u64 {
    core::memory_limit()
}

/// The default limit (a share of physical memory), whatever the current one.
#[pyfunction]
fn default_memory_limit() -> u64 {
    default_limit()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let from_env = std::env::var("STOCHAMORT_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse::<u64>().ok());
    core::set_memory_limit(from_env.unwrap_or_else(default_limit));
    add_functions!(m, set_memory_limit, memory_limit, default_memory_limit)
}
