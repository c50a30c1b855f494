//! Python values → a Vexil [`Context`], by the table in
//! `sdk/conformance/README.md` ("Context conversion"), which is also the
//! server's JSON decoder's (`flags/src/model/attributes.rs`):
//!
//! - `None` is the empty context; a `dict` is a context whose `"key"` (a
//!   `str`) is the targeting key; a [`PyContext`] is used as it is, without
//!   converting anything (the fast path for a context reused across calls).
//! - Attribute values: `str`; `bool` (checked before `int`, its base
//!   class); `int` and `float` as a 64-bit float (ints round to the nearest;
//!   `NaN`, infinities and ints beyond a float's range are refused); a
//!   timezone-aware `datetime` as epoch milliseconds (what `before` and
//!   `after` compare); a `list` or `tuple` of `str`; `None` is dropped.
//! - Anything else (a nested `dict`, a list holding a non-string, a naive
//!   `datetime`, bytes, sets, other objects) is refused with a message that
//!   names the attribute: the `INVALID_CONTEXT` error when evaluating,
//!   `InvalidContextError` when building a `Context`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use vexil_flags::{AttrValue, Attributes};
use vexil_sdk::Context;

use crate::InvalidContextError;

/// `datetime.datetime`, looked up once.
static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A context converted once, for reuse across evaluations.
#[pyclass(name = "Context", module = "vexil", frozen)]
#[derive(Debug)]
pub(crate) struct PyContext {
    pub(crate) ctx: Context,
}

/// A context borrowed from a `PyContext` or converted for one call.
pub(crate) enum Ctx<'py> {
    Borrowed(Bound<'py, PyContext>),
    Owned(Context),
}

impl Ctx<'_> {
    pub(crate) fn get(&self) -> &Context {
        match self {
            Ctx::Borrowed(b) => &b.get().ctx,
            Ctx::Owned(c) => c,
        }
    }
}

/// Converts `obj` (None, a dict or a `Context`); `Err` names the problem.
pub(crate) fn convert<'py>(obj: &Bound<'py, PyAny>) -> Result<Ctx<'py>, String> {
    if obj.is_none() {
        return Ok(Ctx::Owned(Context::default()));
    }
    if let Ok(c) = obj.cast::<PyContext>() {
        return Ok(Ctx::Borrowed(c.clone()));
    }
    let Ok(dict) = obj.cast::<PyDict>() else {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        return Err(format!(
            "a context is a dict, a vexil.Context or None, not {ty}"
        ));
    };
    let mut key = String::new();
    let mut entries = Vec::with_capacity(dict.len());
    for (name, value) in dict.iter() {
        let Ok(name) = name.cast::<PyString>() else {
            return Err("attribute names must be strings".into());
        };
        let name = name.to_cow().map_err(|e| e.to_string())?;
        if name == "key" {
            let Ok(k) = value.cast::<PyString>() else {
                return Err("the key (targeting key) must be a string".into());
            };
            key = k.to_cow().map_err(|e| e.to_string())?.into_owned();
            continue;
        }
        if let Some(v) = attribute(&name, &value)? {
            entries.push((name.into_owned(), v));
        }
    }
    Ok(Ctx::Owned(Context {
        key,
        attributes: entries.into_iter().collect::<Attributes>(),
    }))
}

/// Converts the attributes of an OpenFeature context (no `key` allowed).
pub(crate) fn from_openfeature(
    targeting_key: Option<String>,
    attributes: &Bound<'_, PyDict>,
) -> Result<Context, String> {
    let mut entries = Vec::with_capacity(attributes.len());
    for (name, value) in attributes.iter() {
        let Ok(name) = name.cast::<PyString>() else {
            return Err("attribute names must be strings".into());
        };
        let name = name.to_cow().map_err(|e| e.to_string())?;
        if name == "key" {
            return Err("the attribute `key` is the targeting key: set it as such".into());
        }
        if let Some(v) = attribute(&name, &value)? {
            entries.push((name.into_owned(), v));
        }
    }
    Ok(Context {
        key: targeting_key.unwrap_or_default(),
        attributes: entries.into_iter().collect(),
    })
}

/// One attribute's value; `None` for a Python `None` (the attribute is absent).
fn attribute(name: &str, v: &Bound<'_, PyAny>) -> Result<Option<AttrValue>, String> {
    let bad = |what: &str| format!("attribute {name:?}: {what}");
    if v.is_none() {
        return Ok(None);
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Some(AttrValue::String(
            s.to_cow().map_err(|e| bad(&e.to_string()))?.into_owned(),
        )));
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Some(AttrValue::Bool(b.is_true())));
    }
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>() {
        let n: f64 = v
            .extract()
            .map_err(|_| bad("the number is beyond a 64-bit float's range"))?;
        if !n.is_finite() {
            return Err(bad("NaN and infinities are not numbers a context can hold"));
        }
        return Ok(Some(AttrValue::Number(n)));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in v.try_iter().map_err(|e| bad(&e.to_string()))? {
            let item = item.map_err(|e| bad(&e.to_string()))?;
            let Ok(s) = item.cast::<PyString>() else {
                return Err(bad("a list attribute holds only strings"));
            };
            items.push(s.to_cow().map_err(|e| bad(&e.to_string()))?.into_owned());
        }
        return Ok(Some(AttrValue::List(items)));
    }
    if v.is_instance_of::<PyDict>() {
        return Err(bad(&format!(
            "nested objects are not allowed; send each field as an attribute of its own \
             (e.g. \"{name}.plan\")"
        )));
    }
    if let Some(ms) = epoch_millis(v).map_err(|m| bad(&m))? {
        return Ok(Some(AttrValue::Number(ms)));
    }
    let ty = v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Err(bad(&format!(
        "a {ty} is not a context value (str, int, float, bool, a list of str, an aware datetime or None)"
    )))
}

/// A timezone-aware `datetime` as epoch milliseconds; `None` if `v` is no
/// `datetime`; an error for a naive one (its instant is unknown).
fn epoch_millis(v: &Bound<'_, PyAny>) -> Result<Option<f64>, String> {
    let py = v.py();
    let ty = DATETIME
        .get_or_try_init(py, || {
            py.import("datetime")?
                .getattr("datetime")?
                .cast_into::<PyType>()
                .map(Bound::unbind)
                .map_err(PyErr::from)
        })
        .map_err(|e| e.to_string())?;
    if !v.is_instance(ty.bind(py)).unwrap_or(false) {
        return Ok(None);
    }
    let naive = v.getattr("tzinfo").map(|t| t.is_none()).unwrap_or(true);
    if naive {
        return Err("a naive datetime has no instant: give it a tzinfo".into());
    }
    let secs: f64 = v
        .call_method0("timestamp")
        .and_then(|t| t.extract())
        .map_err(|e| e.to_string())?;
    Ok(Some((secs * 1000.0).round()))
}

#[pymethods]
impl PyContext {
    /// `Context(key="", attributes=None, **more)`: raises
    /// `InvalidContextError` (a `ValueError`) naming a bad attribute.
    #[new]
    #[pyo3(signature = (key = None, attributes = None, **more))]
    fn new(
        key: Option<String>,
        attributes: Option<&Bound<'_, PyDict>>,
        more: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut entries = Vec::new();
        for dict in [attributes, more].into_iter().flatten() {
            for (name, value) in dict.iter() {
                let name: String = name
                    .extract()
                    .map_err(|_| InvalidContextError::new_err("attribute names must be strings"))?;
                if name == "key" {
                    return Err(InvalidContextError::new_err(
                        "the attribute `key` is the targeting key: pass it as `key`",
                    ));
                }
                if let Some(v) = attribute(&name, &value).map_err(InvalidContextError::new_err)? {
                    entries.push((name, v));
                }
            }
        }
        Ok(PyContext {
            ctx: Context {
                key: key.unwrap_or_default(),
                attributes: entries.into_iter().collect(),
            },
        })
    }

    /// Converts a dict (`{"key": ..., "country": ...}`) or `None`, by the
    /// same rules as evaluation; raises `InvalidContextError`.
    #[staticmethod]
    fn from_dict(py: Python<'_>, context: &Bound<'_, PyAny>) -> PyResult<Py<PyContext>> {
        match convert(context).map_err(InvalidContextError::new_err)? {
            Ctx::Borrowed(b) => Ok(b.unbind()),
            Ctx::Owned(ctx) => Py::new(py, PyContext { ctx }),
        }
    }

    /// The targeting key.
    #[getter]
    fn key(&self) -> &str {
        &self.ctx.key
    }

    /// The context as the core holds it: `{"key": ..., **attributes}`,
    /// every number a float.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("key", &self.ctx.key)?;
        for (name, v) in self.ctx.attributes.iter() {
            match v {
                AttrValue::Bool(b) => d.set_item(name, *b)?,
                AttrValue::Number(n) => d.set_item(name, *n)?,
                AttrValue::String(s) => d.set_item(name, s)?,
                AttrValue::List(l) => d.set_item(name, l.clone())?,
            }
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let attrs = serde_json::to_string(&self.ctx.attributes).unwrap_or_default();
        format!("Context(key={:?}, attributes={attrs})", self.ctx.key)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyContext>()
            .is_ok_and(|o| o.get().ctx == self.ctx)
    }
}
