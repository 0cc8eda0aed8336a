//! Where the core runs work in parallel: on a rayon pool of this process's own, built on first use
//! and built anew in a child of `fork` (the parent's pool threads do not exist there, so using its
//! pool would wait forever). Parallelism can also be switched off process-wide (the glue does so in
//! a child after `fork`; switching it back on there builds the child's own pool).
//!
//! Both loops below call [`checkpoint`](crate::limits::checkpoint) before each unit of work, so an
//! interrupt stops a call within one unit.

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::limits::checkpoint;

static ENABLED: AtomicBool = AtomicBool::new(true);
static USED: AtomicBool = AtomicBool::new(false);

/// The pool and the process that built it (leaked: a pool is never dropped, least of all in a
/// forked child, where dropping the parent's would wait on threads that do not exist).
struct OwnedPool {
    pid: u32,
    pool: ThreadPool,
}

static POOL: AtomicPtr<OwnedPool> = AtomicPtr::new(std::ptr::null_mut());

/// Switch rayon parallelism on or off for this process.
pub fn set_parallelism(enabled: bool) {
    ENABLED.store(enabled, Ordering::SeqCst);
}

/// Whether the core may use rayon.
pub fn parallelism_enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// Whether a pool has been started (by this process or the one it was forked from).
pub fn parallelism_used() -> bool {
    USED.load(Ordering::SeqCst)
}

/// This process's pool, built if there is none yet or the one there belongs to a parent process.
/// `None` if no thread could be started (then the work runs serially).
fn pool() -> Option<&'static ThreadPool> {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: a non-null POOL always points to a leaked, never freed OwnedPool.
    if let Some(owned) = unsafe { current.as_ref() } {
        if owned.pid == pid {
            return Some(&owned.pool);
        }
    }
    let pool = ThreadPoolBuilder::new().thread_name(|i| format!("stochamort-{i}")).build().ok()?;
    let fresh = Box::into_raw(Box::new(OwnedPool { pid, pool }));
    match POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked above and is now published.
        Ok(_) => Some(unsafe { &(*fresh).pool }),
        Err(other) => {
            // Another thread built one first: use it, and drop ours (its threads are alive here).
            // SAFETY: `fresh` was never published; `other` is a leaked OwnedPool.
            drop(unsafe { Box::from_raw(fresh) });
            let owned = unsafe { &*other };
            (owned.pid == pid).then_some(&owned.pool)
        }
    }
}

/// This process's pool when parallelism is on (for callers that hand a whole call to it, so that
/// their own thread stays free, e.g. to watch for signals), else None.
pub fn call_pool() -> Option<&'static ThreadPool> {
    if !parallelism_enabled() {
        return None;
    }
    let pool = pool()?;
    USED.store(true, Ordering::SeqCst);
    Some(pool)
}

/// Below this many units of work a call stays serial: starting threads would cost more.
const SERIAL_BELOW: usize = 2;

/// The pool to run `n` units on, if they should run in parallel.
fn parallel_pool(n: usize) -> Option<&'static ThreadPool> {
    if n < SERIAL_BELOW {
        return None;
    }
    call_pool()
}

/// Apply `f` to every index in `0..n`, in parallel when allowed, and return the results in order.
pub(crate) fn map_indices<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    let step = |i| {
        checkpoint();
        f(i)
    };
    match parallel_pool(n) {
        None => (0..n).map(step).collect(),
        Some(pool) => pool.install(|| (0..n).into_par_iter().map(step).collect()),
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
    let step = |(i, c): (usize, &mut [T])| {
        checkpoint();
        f(i, c)
    };
    match parallel_pool(data.len() / chunk_len) {
        None => data.chunks_mut(chunk_len).enumerate().for_each(step),
        Some(pool) => pool.install(|| data.par_chunks_mut(chunk_len).enumerate().for_each(step)),
    }
}

/// Turn per-unit results into one result, reporting the error of the lowest index (deterministic).
pub(crate) fn collect_results<T, E>(results: Vec<Result<T, E>>) -> Result<Vec<T>, E> {
    results.into_iter().collect()
}
