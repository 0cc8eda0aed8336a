//! Where the core runs work in parallel. Parallelism can be switched off process-wide (the
//! glue does so in a child after `fork`, where rayon's pool would deadlock).

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);
static USED: AtomicBool = AtomicBool::new(false);

/// Switch rayon parallelism on or off for this process.
pub fn set_parallelism(enabled: bool) {
    ENABLED.store(enabled, Ordering::SeqCst);
}

/// Whether the core may use rayon.
pub fn parallelism_enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// Whether rayon's pool has been started by this process (used for fork safety).
pub fn parallelism_used() -> bool {
    USED.load(Ordering::SeqCst)
}

/// Below this many units of work a call stays serial: starting threads would cost more.
const SERIAL_BELOW: usize = 2;

/// Apply `f` to every index in `0..n`, in parallel when allowed, and return the results in order.
pub(crate) fn map_indices<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    if n < SERIAL_BELOW || !parallelism_enabled() {
        (0..n).map(f).collect()
    } else {
        USED.store(true, Ordering::SeqCst);
        (0..n).into_par_iter().map(f).collect()
    }
}

/// Call `f(index, chunk)` for each of the consecutive `chunk_len`-long chunks of `data`.
pub(crate) fn for_each_chunk<T, F>(data: &mut [T], chunk_len: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if chunk_len == 0 {
        return;
    }
    if data.len() / chunk_len < SERIAL_BELOW || !parallelism_enabled() {
        data.chunks_mut(chunk_len).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        USED.store(true, Ordering::SeqCst);
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

/// Turn per-unit results into one result, reporting the error of the lowest index (deterministic).
pub(crate) fn collect_results<T, E>(results: Vec<Result<T, E>>) -> Result<Vec<T>, E> {
    results.into_iter().collect()
}
