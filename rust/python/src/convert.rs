//! Borrow numpy arguments as typed arrays, with errors that name the argument.

use numpy::{Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray, PyUntypedArray, PyUntypedArrayMethods};
use numpy::ndarray::Dimension;
use pyo3::prelude::*;

use crate::errors::raise;

/// Borrow `obj` as a read-only `ndim`-dimensional array of `T`.
pub(crate) fn readonly<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
    what: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let py = obj.py();
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        raise(
            py,
            "InvalidDTypeError",
            format!("{name}: expected a numpy array {what}, got {}", type_name(obj)),
        )
    })?;
    if untyped.ndim() != ndim {
        return Err(raise(
            py,
            "ShapeError",
            format!("{name}: expected a {ndim}-d array {what}, got shape {:?}", untyped.shape()),
        ));
    }
    let expected = T::get_dtype(py);
    if !untyped.dtype().is_equiv_to(&expected) {
        return Err(raise(
            py,
            "InvalidDTypeError",
            format!("{name}: expected dtype {expected}, got {}", untyped.dtype()),
        ));
    }
    let array = obj.cast::<PyArray<T, D>>().map_err(|e| raise(py, "InvalidDTypeError", format!("{name}: {e}")))?;
    array
        .try_readonly()
        .map_err(|e| raise(py, "InvalidArgumentError", format!("{name}: cannot be borrowed ({e})")))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}
