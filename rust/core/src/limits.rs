//! Limits that keep a request from taking the process down: the memory a call may allocate and
//! the interruption of long calls.
//!
//! Every entry point sizes what it will allocate (outputs and work arrays) with checked arithmetic
//! through [`checked_cells`] before allocating anything, and refuses requests over the limit with
//! [`CoreError::TooLarge`]; an allocation that fails would abort the process, which no caller can
//! catch. The glue sets the limit (a share of physical memory by default) and raises the interrupt
//! flag when the user presses Ctrl-C; long loops call [`checkpoint`], which unwinds with
//! [`Interrupted`] once the flag is up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{CoreError, CoreResult};

static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);
static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Set the most bytes one call may allocate (`u64::MAX`: no limit).
pub fn set_memory_limit(bytes: u64) {
    MEMORY_LIMIT.store(bytes, Ordering::SeqCst);
}

/// The most bytes one call may allocate.
pub fn memory_limit() -> u64 {
    MEMORY_LIMIT.load(Ordering::SeqCst)
}

/// The number of cells of an array of shape `dims` whose cells take `cell_bytes` bytes, refusing
/// (as an error about the argument `name`) shapes whose size overflows or exceeds the memory limit.
pub fn checked_cells(dims: &[usize], cell_bytes: usize, name: &'static str) -> CoreResult<usize> {
    checked_total(&[(dims, cell_bytes)], name)?;
    // With cells of zero bytes the size check passes whatever the count: check the count too.
    dims.iter().try_fold(1usize, |acc, &x| acc.checked_mul(x)).ok_or_else(|| CoreError::TooLarge {
        name,
        request: format!("more than 2**64 cells ({})", describe(&[(dims, cell_bytes)])),
        limit: memory_limit().min(isize::MAX as u64),
    })
}

/// The bytes of several arrays (each a shape and the bytes of one cell), refused as for
/// [`checked_cells`] when their sum overflows or exceeds the memory limit.
pub fn checked_total(arrays: &[(&[usize], usize)], name: &'static str) -> CoreResult<u64> {
    // An empty array's other axes still give it strides (numpy's, too), which must not overflow:
    // (0, 2**62, 8) holds nothing, but its first stride is 2**65 bytes.
    let strides_fit = arrays.iter().all(|(dims, cell_bytes)| {
        dims.iter()
            .try_fold(*cell_bytes as u64, |acc, &x| acc.checked_mul(x.max(1) as u64))
            .is_some_and(|extent| extent <= isize::MAX as u64)
    });
    let bytes = arrays
        .iter()
        .try_fold(0u64, |sum, (dims, cell_bytes)| {
            let cells = dims.iter().try_fold(*cell_bytes as u64, |acc, &x| acc.checked_mul(x as u64))?;
            sum.checked_add(cells)
        })
        .filter(|_| strides_fit);
    let limit = memory_limit().min(isize::MAX as u64);
    match bytes {
        Some(b) if b <= limit => Ok(b),
        _ => Err(CoreError::TooLarge {
            name,
            request: match bytes {
                Some(b) => format!("{} ({})", human_bytes(b), describe(arrays)),
                None => format!("more than 2**64 bytes ({})", describe(arrays)),
            },
            limit,
        }),
    }
}

fn describe(arrays: &[(&[usize], usize)]) -> String {
    let parts: Vec<String> = arrays.iter().map(|(dims, cell)| format!("{dims:?} x {cell} B")).collect();
    parts.join(" + ")
}

/// The argument of the largest extent among `args` (extent, name): the one a refused request of
/// their product names (the first on ties), so that a huge `n_points` is not blamed on `n_samples`.
pub fn largest(args: &[(usize, &'static str)]) -> &'static str {
    args.iter().rev().max_by_key(|(extent, _)| *extent).map_or("", |(_, name)| name)
}

/// Refuse per-size tables (`tables` float64 arrays of `n_players + 1` entries) over the limit.
pub fn check_table(n_players: usize, tables: usize, name: &'static str) -> CoreResult<()> {
    let entries = n_players.saturating_add(1);
    checked_cells(&[entries, tables], 8, name).map(|_| ())
}

/// `bytes` as a short human-readable size.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The payload a call unwinds with when interrupted (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

/// Ask the running calls to stop at their next [`checkpoint`].
pub fn request_interrupt() {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Clear the interrupt flag (before a new call starts).
pub fn clear_interrupt() {
    INTERRUPT.store(false, Ordering::SeqCst);
}

/// Unwind with [`Interrupted`] if an interrupt was requested. Cheap (one relaxed load): call it
/// between blocks of work. `resume_unwind` skips the panic hook, so nothing is printed.
#[inline]
pub fn checkpoint() {
    if INTERRUPT.load(Ordering::Relaxed) {
        std::panic::resume_unwind(Box::new(Interrupted));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_against_overflow_and_the_limit() {
        assert_eq!(checked_cells(&[2, 3, 4], 8, "x").unwrap(), 24);
        assert!(matches!(checked_cells(&[usize::MAX, 2], 1, "x"), Err(CoreError::TooLarge { name: "x", .. })));
        assert!(matches!(checked_cells(&[1 << 40, 1 << 30], 1, "x"), Err(CoreError::TooLarge { .. })));
        assert_eq!(checked_cells(&[0, 1 << 20], 8, "x").unwrap(), 0);
        // Empty, but with strides that overflow.
        assert!(matches!(checked_cells(&[0, 1 << 62, 8], 8, "x"), Err(CoreError::TooLarge { .. })));
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(largest(&[(10, "a"), (1 << 40, "b"), (3, "c")]), "b");
        assert_eq!(largest(&[(4, "a"), (4, "b")]), "a");
    }
}
