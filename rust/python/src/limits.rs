//! The memory limit of one core call: a share of this machine's (or this container's) memory by
//! default, lowered to the address space the process has left under `ulimit -v` (RLIMIT_AS) when
//! there is one; `STOCHAMORT_MEMORY_LIMIT` (bytes) at import, or `set_memory_limit` at any time.

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

/// The address space this process may still map under RLIMIT_AS (None: unlimited). An
/// allocation past it fails, and Rust aborts on a failed allocation, so it bounds the limit too.
fn address_space_left() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given and has no other preconditions.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // SAFETY: as above.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGE_SIZE) }.max(1) as u64;
    let mapped_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|field| field.parse::<u64>().ok()))
        .unwrap_or(0);
    Some(limit.rlim_cur.saturating_sub(mapped_pages.saturating_mul(page_size)))
}

/// The limit a fresh process starts with (computed again by `set_memory_limit(None)`: the
/// address space left changes as the process maps more).
pub(crate) fn default_limit() -> u64 {
    [available_memory(), address_space_left()]
        .into_iter()
        .flatten()
        .min()
        .map_or(u64::MAX, |bytes| (bytes as f64 * DEFAULT_SHARE) as u64)
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

/// The default limit (a share of physical memory, or of the address space left under
/// RLIMIT_AS when lower), whatever the current one.
#[pyfunction]
fn default_memory_limit() -> u64 {
    default_limit()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let from_env = std::env::var("STOCHAMORT_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse::<u64>().ok());
    core::set_memory_limit(from_env.unwrap_or_else(default_limit));
    add_functions!(m, set_memory_limit, memory_limit, default_memory_limit)
}
