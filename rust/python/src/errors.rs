//! Exceptions of `stochamort.errors`, imported once (pyo3's `import_exception!`), and the one
//! conversion from core errors to them. Every error about an argument carries it as the attribute
//! `argument`, and errors about points carry their indices as `points` (a tuple of ints), so that
//! callers can act on them (an oracle renumbers the points of a chunk) without parsing messages.

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTypeInfo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, mpsc::RecvTimeoutError, Mutex};
use std::time::Duration;
use stochamort_core as core;
use stochamort_core::{limits, CoreError, Interrupted};

/// Import each class of `stochamort.errors` as a Rust type, and list their names.
macro_rules! python_errors {
    ($($class:ident),* $(,)?) => {
        $(pyo3::import_exception!(stochamort.errors, $class);)*
        const CLASSES: &[&str] = &[$(stringify!($class)),*];
    };
}

python_errors!(
    StochamortError,
    InvalidArgumentError,
    InvalidDTypeError,
    ShapeError,
    NonFiniteError,
    InsufficientSamplesError,
    SingularSystemError,
    TooManyPlayersError,
    RequestTooLargeError,
);

/// Import every class when the module loads: a broken install then fails at import time with a
/// Python error, and the lazy imports behind `import_exception!` can no longer fail (and panic).
pub(crate) fn check_classes(py: Python<'_>) -> PyResult<()> {
    let module = py.import("stochamort.errors")?;
    for class in CLASSES {
        module.getattr(*class)?;
    }
    Ok(())
}

/// A core error on its way to Python (the orphan rule forbids `From<CoreError> for PyErr`).
pub(crate) struct CoreFailure(pub CoreError);

impl From<CoreFailure> for PyErr {
    fn from(CoreFailure(err): CoreFailure) -> PyErr {
        let message = err.to_string();
        let (raised, argument, points) = match err {
            CoreError::InvalidArgument { name, points, .. } => (InvalidArgumentError::new_err(message), name, points),
            CoreError::Shape { name, .. } => (ShapeError::new_err(message), name, vec![]),
            CoreError::NonFinite { name, points } => (NonFiniteError::new_err(message), name, points),
            CoreError::InsufficientSamples { name, points, .. } => (InsufficientSamplesError::new_err(message), name, points),
            CoreError::Singular { name, point, .. } => (SingularSystemError::new_err(message), name, vec![point]),
            CoreError::TooManyPlayers { name, .. } => (TooManyPlayersError::new_err(message), name, vec![]),
            CoreError::TooLarge { name, .. } => (RequestTooLargeError::new_err(message), name, vec![]),
        };
        Python::attach(|py| with_attributes(py, raised, argument, &points))
    }
}

/// An error of class `E` about the argument `name`, raised by the glue itself (dtype, ndim, …).
pub(crate) fn argument_error<E: PyTypeInfo>(name: &str, reason: impl std::fmt::Display) -> PyErr {
    let raised = PyErr::new::<E, _>(format!("{name}: {reason}"));
    Python::attach(|py| with_attributes(py, raised, name, &[]))
}

/// Set the attributes `argument` and `points` on the exception `raised` will raise.
fn with_attributes(py: Python<'_>, raised: PyErr, argument: &str, points: &[usize]) -> PyErr {
    let value = raised.value(py);
    let attached = value
        .setattr("argument", argument)
        .and_then(|()| value.setattr("points", PyTuple::new(py, points)?));
    match attached {
        Ok(()) => raised,
        Err(failure) => failure,
    }
}

/// Calls of [`compute`] running now (the interrupt flag is cleared when the first one starts).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How often a waiting call checks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `work` without the GIL, turning core errors and panics into Python exceptions.
///
/// The work runs on the core's thread pool (or, with parallelism off, a thread of its own) while
/// this one waits and checks for signals every 50 ms; on
/// Ctrl-C (or any signal whose handler raises) it raises the core's interrupt flag, the work
/// unwinds at its next checkpoint, and the handler's exception (KeyboardInterrupt) is raised here.
pub(crate) fn compute<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, CoreError> + Send,
{
    let (outcome, signal) = py.detach(|| watched(work));
    if let Some(raised) = signal {
        return Err(raised);
    }
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(CoreFailure(err).into()),
        Err(panic) if panic.is::<Interrupted>() => Err(pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted")),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(StochamortError::new_err(format!("internal error in the Rust core ({detail}); please report it")))
        }
    }
}

type Outcome<T> = std::thread::Result<Result<T, CoreError>>;

/// Run `work` on a scoped thread, polling for signals meanwhile (see [`compute`]).
fn watched<T: Send, F: FnOnce() -> Result<T, CoreError> + Send>(work: F) -> (Outcome<T>, Option<PyErr>) {
    if RUNNING.fetch_add(1, Ordering::SeqCst) == 0 {
        limits::clear_interrupt();
    }
    // The work waits in a slot, so that it can still run here if no thread can be started.
    let slot = Mutex::new(Some(work));
    let run = || {
        let work = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.map(|w| w())))
    };
    let (done, finished) = mpsc::channel::<()>();
    let watch = |finished: mpsc::Receiver<()>| {
        let mut signal = None;
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(SIGNAL_POLL) {
            if signal.is_none() {
                if let Err(raised) = Python::attach(|py| py.check_signals()) {
                    limits::request_interrupt();
                    signal = Some(raised);
                }
            }
        }
        signal
    };
    let result = match core::call_pool() {
        // On the pool's (already running) threads: no thread to start per call.
        Some(pool) => {
            let outcome = Mutex::new(None);
            let signal = pool.in_place_scope(|scope| {
                scope.spawn(|_| {
                    *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(run());
                    let _ = done.send(());
                });
                watch(finished)
            });
            let outcome = outcome.into_inner().unwrap_or_else(|e| e.into_inner());
            (outcome.expect("the scope ran the work"), signal)
        }
        // Parallelism off (e.g. after fork): a thread of its own for the call.
        None => std::thread::scope(|scope| {
            let run = &run;
            let spawned = std::thread::Builder::new().name("stochamort-call".into()).spawn_scoped(scope, move || {
                let outcome = run();
                let _ = done.send(());
                outcome
            });
            let Ok(handle) = spawned else {
                return (run(), None);
            };
            let signal = watch(finished);
            (handle.join().unwrap_or_else(Err), signal)
        }),
    };
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    let (outcome, signal) = result;
    (outcome.map(|ran| ran.expect("the work runs exactly once")), signal)
}
