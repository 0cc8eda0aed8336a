//! Python arguments as Rust values: numpy arrays borrowed as typed read-only views, counts, seeds
//! and the parsed enumerations of the core. Every error names the argument.

use numpy::ndarray::{ArrayView, ArrayView1, Dimension, Ix1};
use numpy::{
    Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use stochamort_core::{CoreResult, Distribution};

use crate::errors::{argument_error, compute, CoreFailure, InvalidArgumentError, InvalidDTypeError, ShapeError};

/// Borrow `obj` as a read-only array of `T` with the dimensions `D`; `what` describes its axes.
pub(crate) fn readonly<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let untyped = obj
        .cast::<PyUntypedArray>()
        .map_err(|_| argument_error::<InvalidDTypeError>(name, format!("expected a numpy array {what}, got {}", type_name(obj))))?;
    // Every argument has a fixed number of dimensions (`D::NDIM` is `None` only for `IxDyn`).
    let ndim = D::NDIM.unwrap_or(untyped.ndim());
    if untyped.ndim() != ndim {
        return Err(argument_error::<ShapeError>(
            name,
            format!("expected a {ndim}-d array {what}, got shape {:?}", untyped.shape()),
        ));
    }
    let expected = T::get_dtype(obj.py());
    if !untyped.dtype().is_equiv_to(&expected) {
        return Err(argument_error::<InvalidDTypeError>(name, format!("expected dtype {expected}, got {}", untyped.dtype())));
    }
    let array = obj.cast::<PyArray<T, D>>().map_err(|e| argument_error::<InvalidDTypeError>(name, e))?;
    array
        .try_readonly()
        .map_err(|e| argument_error::<InvalidArgumentError>(name, format!("cannot be borrowed ({e})")))
}

/// The running moments of one side of a merge: counts `(blocks,)`, means and M2 `(blocks, …)`.
pub(crate) type MomentViews<'a, D> = (ArrayView1<'a, u64>, ArrayView<'a, f64, D>, ArrayView<'a, f64, D>);

/// Borrow the running moments of both sides of a merge (the arguments `counts_a`, `means_a`,
/// `m2_a`, then those ending in `_b`; `axes` describes the counts' and the means' axes) and run
/// `merge` on them with the GIL released.
pub(crate) fn merge_sides<'py, D: Dimension, T: Send>(
    py: Python<'py>,
    a: [&Bound<'py, PyAny>; 3],
    b: [&Bound<'py, PyAny>; 3],
    (count_axes, mean_axes): (&str, &str),
    merge: impl FnOnce(MomentViews<D>, MomentViews<D>) -> CoreResult<T> + Send,
) -> PyResult<T> {
    let borrow = |[counts, means, m2]: [&Bound<'py, PyAny>; 3], side: &str| -> PyResult<_> {
        Ok((
            readonly::<u64, Ix1>(counts, &format!("counts_{side}"), count_axes)?,
            readonly::<f64, D>(means, &format!("means_{side}"), mean_axes)?,
            readonly::<f64, D>(m2, &format!("m2_{side}"), mean_axes)?,
        ))
    };
    let (a, b) = (borrow(a, "a")?, borrow(b, "b")?);
    let (a, b) = (moment_views(&a), moment_views(&b));
    compute(py, || merge(a, b))
}

/// Borrowed moment arrays of one side of a merge.
type MomentArrays<'py, D> = (PyReadonlyArray1<'py, u64>, PyReadonlyArray<'py, f64, D>, PyReadonlyArray<'py, f64, D>);

fn moment_views<'a, D: Dimension>((counts, means, m2): &'a MomentArrays<'_, D>) -> MomentViews<'a, D> {
    (counts.as_array(), means.as_array(), m2.as_array())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A non-negative count argument (Python int) as `usize`.
pub(crate) fn count(value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    value
        .extract::<i64>()
        .ok()
        .filter(|&v| v >= 0)
        .map(|v| v as usize)
        .ok_or_else(|| argument_error::<InvalidArgumentError>(name, format!("must be a non-negative integer, got {value}")))
}

/// A seed, offset or size argument (Python int in [0, 2**64)).
pub(crate) fn unsigned(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    value
        .extract::<u64>()
        .map_err(|_| argument_error::<InvalidArgumentError>(name, format!("must be an integer in [0, 2**64), got {value}")))
}

/// An optional real argument (a Python number or None).
pub(crate) fn real_or_none(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<f64>> {
    value
        .map(|v| {
            v.extract::<f64>()
                .map_err(|_| argument_error::<InvalidDTypeError>(name, format!("must be a real number or None, got {v}")))
        })
        .transpose()
}

/// The argument `distribution`.
pub(crate) fn distribution(value: &str) -> PyResult<Distribution> {
    Ok(Distribution::parse(value, "distribution").map_err(CoreFailure)?)
}

/// A yes/no argument: a Python bool, a numpy bool, or the integers 0 and 1 (numpy's too).
pub(crate) fn flag(value: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    if let Ok(b) = value.cast::<pyo3::types::PyBool>() {
        return Ok(b.is_true());
    }
    let numpy_bool = value.get_type().name().map(|n| n == "bool" || n == "bool_").unwrap_or(false);
    if numpy_bool {
        return value.is_truthy();
    }
    match value.extract::<i64>() {
        Ok(0) if !value.is_instance_of::<pyo3::types::PyFloat>() => Ok(false),
        Ok(1) if !value.is_instance_of::<pyo3::types::PyFloat>() => Ok(true),
        _ => Err(argument_error::<InvalidDTypeError>(name, format!("must be True or False, got {}", describe(value)))),
    }
}

/// An optional yes/no argument (None: `default`).
pub(crate) fn flag_or(value: Option<&Bound<'_, PyAny>>, name: &str, default: bool) -> PyResult<bool> {
    match value {
        Some(v) if !v.is_none() => flag(v, name),
        _ => Ok(default),
    }
}

/// A string argument: a str (numpy's too) or UTF-8 bytes.
pub(crate) fn text(value: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    if let Ok(s) = value.extract::<String>() {
        return Ok(s);
    }
    if let Ok(bytes) = value.cast::<pyo3::types::PyBytes>() {
        if let Ok(s) = std::str::from_utf8(bytes.as_bytes()) {
            return Ok(s.to_string());
        }
    }
    Err(argument_error::<InvalidDTypeError>(name, format!("must be a string, got {}", describe(value))))
}

/// A real argument: any Python or numpy number except a bool.
pub(crate) fn real(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    let number = !value.is_instance_of::<pyo3::types::PyBool>() && !value.is_instance_of::<pyo3::types::PyString>();
    number
        .then(|| value.extract::<f64>().ok())
        .flatten()
        .ok_or_else(|| argument_error::<InvalidDTypeError>(name, format!("must be a real number, got {}", describe(value))))
}

/// A short description of a value for a message: its repr (cut) and type.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let repr = value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    let repr = if repr.chars().count() > 60 { format!("{}...", repr.chars().take(60).collect::<String>()) } else { repr };
    format!("{repr} ({})", type_name(value))
}

/// Borrow a bool array as [`readonly`] does, reading each byte as numpy does: a bool array whose
/// bytes are not all 0 or 1 (legal in numpy, e.g. a view of other data) is first normalised to 0/1
/// (True where the byte is non-zero), since the core may only read 0/1 bytes as `bool`.
pub(crate) fn readonly_bools<'py, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, bool, D>> {
    let checked = readonly::<bool, D>(obj, name, what)?;
    let py = obj.py();
    let bytes_view = obj.call_method1("view", (numpy::dtype::<u8>(py),))?;
    let bytes = readonly::<u8, D>(&bytes_view, name, what)?;
    let view = bytes.as_array();
    let junk = py.detach(|| view.iter().any(|&b| b > 1));
    if !junk {
        return Ok(checked);
    }
    drop(checked);
    let normalised = py.import("numpy")?.getattr("not_equal")?.call1((bytes_view, 0u8))?;
    readonly::<bool, D>(&normalised, name, what)
}

/// An optional list of lists of indices (e.g. interaction terms), each a non-negative integer.
pub(crate) fn index_lists(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<Vec<Vec<usize>>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let invalid = || argument_error::<InvalidArgumentError>(name, format!("must be a list of lists of non-negative integers, got {}", describe(value)));
    let mut lists = Vec::new();
    for item in value.try_iter().map_err(|_| invalid())? {
        let mut list = Vec::new();
        for index in item.map_err(|_| invalid())?.try_iter().map_err(|_| invalid())? {
            let index = index.map_err(|_| invalid())?;
            if index.is_instance_of::<pyo3::types::PyBool>() {
                return Err(invalid());
            }
            list.push(index.extract::<u64>().ok().and_then(|i| usize::try_from(i).ok()).ok_or_else(invalid)?);
        }
        lists.push(list);
    }
    Ok(Some(lists))
}
