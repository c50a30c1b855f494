//! A JavaScript context as a Vexil [`Context`].
//!
//! `index.js` maps what only JavaScript has (a `Date`, a `bigint`,
//! `undefined`, a non-finite number, a function) and sends the rest as JSON;
//! this module decodes that JSON with the core's own context decoder, so a
//! context means the same in every SDK and the server: `key` is the
//! targeting key; strings, numbers, booleans and lists of strings are
//! attributes; `null` is an absent attribute; anything else (a nested
//! object, a list holding a non-string) is refused with the attribute's
//! name, and the evaluation answers `INVALID_CONTEXT`.

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

#[cfg(test)]
mod tests {
    use vexil_flags::AttrValue;

    use super::*;

    #[test]
    fn decodes_what_the_core_takes_and_names_what_it_refuses() {
        let ctx = decode(r#"{"key":"u1","n":1.5,"b":true,"g":["a"],"gone":null}"#).unwrap();
        assert_eq!(ctx.key, "u1");
        assert_eq!(ctx.attributes.get("n"), Some(&AttrValue::Number(1.5)));
        assert_eq!(ctx.attributes.get("gone"), None);
        assert_eq!(decode("").unwrap(), Context::default());
        let err = decode(r#"{"key":"u1","address":{"city":"x"}}"#).unwrap_err();
        assert!(err.contains("address"), "{err}");
        assert!(!err.contains("line 1"), "{err}");
    }
}
