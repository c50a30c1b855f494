//! A JavaScript context as a Vexil [`Context`].
//!
//! `index.js` maps what only JavaScript has (a `Date`, a `bigint`,
//! `undefined`, a non-finite number, a function) and sends the rest as JSON;
//! this module decodes that JSON with the core's own context decoder, so a
//! context means the same in every SDK and the server: `key` is the
//! targeting key; strings, numbers, booleans and lists of strings are
//! attributes; `null` is an absent attribute; anything else (a nested
//! object, a list holding a non-string) is refused with the attribute's
//! name, and the evaluation answers `INVALID_CONTEXT`. The tests are in
//! JavaScript (`test/context.test.js`), against the built addon.

use vexil_sdk::Context;

/// Decodes a context sent by `index.js`; an empty string is the empty
/// context. The error explains what Vexil could not take.
pub(crate) fn decode(json: &str) -> Result<Context, String> {
    if json.is_empty() {
        return Ok(Context::default());
    }
    serde_json::from_str(json).map_err(|e| {
        // serde_json appends " at line 1 column N", which means nothing to
        // a caller who passed an object.
        let msg = e.to_string();
        match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_owned(),
            None => msg,
        }
    })
}
