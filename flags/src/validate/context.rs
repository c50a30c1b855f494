//! What an evaluation context may hold ([`MAX_ATTRIBUTE_BYTES`] per value,
//! [`MAX_CONTEXT_BYTES`] in all).
//!
//! Evaluation scans a value once per clause that reads it (a regex, a
//! `contains`), so the size of a context bounds what one request costs the
//! node. The server checks every context it is sent (`/v1/evaluate`, OFREP)
//! before evaluating; the SDK evaluates its caller's own contexts and does
//! not.

use super::{FieldError, code};
use crate::limits::{MAX_ATTRIBUTE_BYTES, MAX_CONTEXT_BYTES};
use crate::model::{AttrValue, Context};

/// Bytes a number or a boolean counts for.
const SCALAR_BYTES: usize = 8;

/// The first problem with `ctx`'s size. The field is the targeting key
/// (`key`) or the attribute's name, for the caller to place (as
/// `context.<name>`, say); with the whole context over its limit, it is the
/// attribute that took it over.
pub fn validate_context(ctx: &Context) -> Result<(), FieldError> {
    let mut total = value_fits("key", ctx.key.len())?;
    for (name, value) in ctx.attributes.iter() {
        let size = match value {
            AttrValue::String(s) => s.len(),
            AttrValue::List(items) => items.iter().map(|s| s.len() + 1).sum(),
            AttrValue::Number(_) | AttrValue::Bool(_) => SCALAR_BYTES,
        };
        total += name.len() + value_fits(name, size)?;
        if total > MAX_CONTEXT_BYTES {
            let msg = format!(
                "the context takes over {MAX_CONTEXT_BYTES} bytes (key, names and values) by \
                 this attribute"
            );
            return Err(FieldError::new(name, code::TOO_LONG, msg));
        }
    }
    Ok(())
}

fn value_fits(name: &str, size: usize) -> Result<usize, FieldError> {
    if size > MAX_ATTRIBUTE_BYTES {
        let msg = format!("is {size} bytes; a context value has at most {MAX_ATTRIBUTE_BYTES}");
        return Err(FieldError::new(name, code::TOO_LONG, msg));
    }
    Ok(size)
}
