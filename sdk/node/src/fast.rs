//! The hot paths, evaluation, as plain Node-API callbacks.
//!
//! napi-rs's generated wrappers cost about 400 ns a call here (a borrow
//! scope per call, and for methods a borrow registered in a global map),
//! several times the evaluation itself, and building a result object
//! property by property costs microseconds. Evaluation is called per
//! request, often many times, so it skips both: `index.js` calls
//! `boolValueFast(slot, key, contextJson, default)` and
//! `detailFast(slot, kind, key, contextJson)` (the detail as JSON, which
//! `JSON.parse` turns into an object far faster), where `slot` names the
//! client in [`CLIENTS`]. Nothing here can throw: a bad argument serves
//! the default, as every evaluation does.
//!
//! A `PreparedContext` (index.js) is decoded once: `prepareContext(obj,
//! contextJson)` wraps the decoded [`Context`] in `obj` (`napi_wrap`, freed
//! when `obj` is collected) and tags `obj` with [`PREPARED_TAG`], and
//! `boolValuePrepared(slot, key, obj, default)` evaluates against it
//! without converting anything but the key. The tag is checked before the
//! unwrap, so no other wrapped object is ever read as a `Context`.
//!
//! This is the addon's only `unsafe` code: Node-API calls with the
//! arguments Node passed, on the JavaScript thread that called.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::RwLock;

use napi::bindgen_prelude::{Object, Result};
use napi::{JsValue, sys};
use napi_derive::napi;
use vexil_sdk::{Client, Context};

use crate::detail::Detail;

/// Every open client, by slot; `NativeClient` frees its slot on close.
static CLIENTS: RwLock<Vec<Option<Client>>> = RwLock::new(Vec::new());

/// Puts `client` in a free slot and returns the slot.
pub(crate) fn register(client: Client) -> u32 {
    let mut clients = CLIENTS.write().unwrap_or_else(|p| p.into_inner());
    let slot = match clients.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            clients.push(None);
            clients.len() - 1
        }
    };
    clients[slot] = Some(client);
    u32::try_from(slot).unwrap_or(u32::MAX)
}

/// Empties `slot` (the client stops once its last clone is gone).
pub(crate) fn unregister(slot: u32) {
    let mut clients = CLIENTS.write().unwrap_or_else(|p| p.into_inner());
    if let Some(entry) = clients.get_mut(slot as usize) {
        *entry = None;
    }
}

/// Reads a JavaScript string into `buf` (or a larger heap buffer); `None`
/// if `value` is not a string.
///
/// SAFETY: `env` and `value` come from the running callback.
unsafe fn read_str<'b>(
    env: sys::napi_env,
    value: sys::napi_value,
    buf: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Option<&'b str> {
    let mut written = 0usize;
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().cast::<c_char>(),
            buf.len(),
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    // `written` excludes the NUL; a string that filled the buffer may be cut.
    if written + 1 < buf.len() {
        return std::str::from_utf8(&buf[..written]).ok();
    }
    let mut len = 0usize;
    let status =
        unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) };
    if status != sys::Status::napi_ok {
        return None;
    }
    heap.resize(len + 1, 0);
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            heap.as_mut_ptr().cast::<c_char>(),
            heap.len(),
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return None;
    }
    std::str::from_utf8(&heap[..written]).ok()
}

/// The callback's arguments, if exactly `N` came.
///
/// SAFETY: `env` and `info` come from the running callback.
unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<[sys::napi_value; N]> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let got = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    (got == sys::Status::napi_ok && argc == N).then_some(argv)
}

/// `boolValueFast(slot, key, contextJson, default)`.
///
/// SAFETY: called by Node with a valid `env` and `info`.
unsafe extern "C" fn bool_value_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe { bool_value(env, info, false) }
}

/// `boolValuePrepared(slot, key, preparedContext, default)`.
///
/// SAFETY: called by Node with a valid `env` and `info`.
unsafe extern "C" fn bool_value_prepared(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    unsafe { bool_value(env, info, true) }
}

/// Both `boolValue` callbacks: the context is JSON, or a prepared one.
///
/// SAFETY: `env` and `info` come from the running callback.
unsafe fn bool_value(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    prepared_context: bool,
) -> sys::napi_value {
    let mut answer = false;
    if let Some(argv) = unsafe { args::<4>(env, info) } {
        // A non-boolean default reads as false (index.js never sends one).
        let mut default = false;
        unsafe { sys::napi_get_value_bool(env, argv[3], &mut default) };
        answer = default;
        let mut slot = 0u32;
        let (mut key_buf, mut key_heap) = ([0u8; 256], Vec::new());
        let (mut ctx_buf, mut ctx_heap) = ([0u8; 1024], Vec::new());
        let ok =
            unsafe { sys::napi_get_value_uint32(env, argv[0], &mut slot) } == sys::Status::napi_ok;
        let key = unsafe { read_str(env, argv[1], &mut key_buf, &mut key_heap) };
        if let (true, Some(key)) = (ok, key) {
            // Evaluation never panics; should it, the default beats an abort.
            if prepared_context {
                if let Some(ctx) = unsafe { prepared(env, argv[2]) } {
                    answer = std::panic::catch_unwind(|| evaluate_with(slot, key, ctx, default))
                        .unwrap_or(default);
                }
            } else if let Some(json) =
                unsafe { read_str(env, argv[2], &mut ctx_buf, &mut ctx_heap) }
            {
                answer = std::panic::catch_unwind(|| evaluate(slot, key, json, default))
                    .unwrap_or(default);
            }
        }
    }
    let mut out = ptr::null_mut();
    unsafe { sys::napi_get_boolean(env, answer, &mut out) };
    out
}

/// `detailFast(slot, kind, key, contextJson)`: kind 0 boolean, 1 string,
/// 2 number, 3 JSON; returns the [`Detail`] as JSON.
///
/// SAFETY: called by Node with a valid `env` and `info`.
unsafe extern "C" fn detail_fast(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut detail = None;
    if let Some(argv) = unsafe { args::<4>(env, info) } {
        let (mut slot, mut kind) = (0u32, 0u32);
        let (mut key_buf, mut key_heap) = ([0u8; 256], Vec::new());
        let (mut ctx_buf, mut ctx_heap) = ([0u8; 1024], Vec::new());
        let ok = unsafe { sys::napi_get_value_uint32(env, argv[0], &mut slot) }
            == sys::Status::napi_ok
            && unsafe { sys::napi_get_value_uint32(env, argv[1], &mut kind) }
                == sys::Status::napi_ok;
        let key = unsafe { read_str(env, argv[2], &mut key_buf, &mut key_heap) };
        let ctx = unsafe { read_str(env, argv[3], &mut ctx_buf, &mut ctx_heap) };
        if let (true, Some(key), Some(ctx)) = (ok, key, ctx) {
            detail = std::panic::catch_unwind(|| detail_of(slot, kind, key, ctx)).ok();
        }
    }
    let detail = detail
        .unwrap_or_else(|| Detail::error("GENERAL", Some("bad arguments to detailFast".into())));
    let json = serde_json::to_string(&detail).unwrap_or_default();
    let mut out = ptr::null_mut();
    unsafe {
        sys::napi_create_string_utf8(
            env,
            json.as_ptr().cast::<c_char>(),
            json.len() as isize,
            &mut out,
        )
    };
    out
}

fn detail_of(slot: u32, kind: u32, key: &str, ctx: &str) -> Detail {
    let ctx = match crate::context::decode(ctx) {
        Ok(ctx) => ctx,
        Err(msg) => return Detail::error("INVALID_CONTEXT", Some(msg)),
    };
    let clients = CLIENTS.read().unwrap_or_else(|p| p.into_inner());
    let Some(Some(c)) = clients.get(slot as usize) else {
        return Detail::error("CLIENT_NOT_READY", Some("the client is closed".into()));
    };
    match kind {
        0 => Detail::from_evaluation(c.bool_detail(key, &ctx, false)),
        1 => Detail::from_evaluation(c.string_detail(key, &ctx, "")),
        2 => Detail::from_evaluation(c.number_detail(key, &ctx, 0.0)),
        _ => Detail::from_evaluation(c.json_detail(key, &ctx, serde_json::Value::Null)),
    }
}

fn evaluate(slot: u32, key: &str, ctx: &str, default: bool) -> bool {
    match crate::context::decode(ctx) {
        Ok(ctx) => evaluate_with(slot, key, &ctx, default),
        Err(_) => default,
    }
}

fn evaluate_with(slot: u32, key: &str, ctx: &Context, default: bool) -> bool {
    let clients = CLIENTS.read().unwrap_or_else(|p| p.into_inner());
    match clients.get(slot as usize) {
        Some(Some(client)) => client.bool_value(key, ctx, default),
        _ => default,
    }
}

/// Marks the objects [`prepare_context`] wrapped (a random 128-bit value,
/// fixed for this addon).
static PREPARED_TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x5d1f_6a0e_93c4_b27d,
    upper: 0xa4e8_0b37_c6f2_1958,
};

/// Frees a prepared context when its object is collected.
///
/// SAFETY: `data` is the `Box<Context>` that [`prepare_context`] leaked.
unsafe extern "C" fn free_context(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Box::from_raw(data.cast::<Context>()) });
}

/// `prepareContext(obj, contextJson)`: decodes the context into `obj`;
/// returns `undefined`, or the reason Vexil cannot take the context as a
/// string (nothing is wrapped then).
///
/// SAFETY: called by Node with a valid `env` and `info`.
unsafe extern "C" fn prepare_context(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let failure = if let Some(argv) = unsafe { args::<2>(env, info) } {
        let (mut buf, mut heap) = ([0u8; 1024], Vec::new());
        match unsafe { read_str(env, argv[1], &mut buf, &mut heap) } {
            None => Some("the context is not a string".to_owned()),
            Some(json) => match crate::context::decode(json) {
                Err(msg) => Some(msg),
                Ok(ctx) => {
                    let data = Box::into_raw(Box::new(ctx));
                    let wrapped = unsafe {
                        sys::napi_wrap(
                            env,
                            argv[0],
                            data.cast::<c_void>(),
                            Some(free_context),
                            ptr::null_mut(),
                            ptr::null_mut(),
                        )
                    };
                    if wrapped != sys::Status::napi_ok {
                        // Not wrapped, so never freed by Node: free it here.
                        drop(unsafe { Box::from_raw(data) });
                        Some("the object cannot hold a prepared context".to_owned())
                    } else if unsafe { sys::napi_type_tag_object(env, argv[0], &PREPARED_TAG) }
                        != sys::Status::napi_ok
                    {
                        Some("the object cannot be tagged as a prepared context".to_owned())
                    } else {
                        None
                    }
                }
            },
        }
    } else {
        Some("prepareContext(obj, contextJson) takes two arguments".to_owned())
    };
    let mut out = ptr::null_mut();
    match failure {
        None => unsafe { sys::napi_get_undefined(env, &mut out) },
        Some(msg) => unsafe {
            sys::napi_create_string_utf8(
                env,
                msg.as_ptr().cast::<c_char>(),
                msg.len() as isize,
                &mut out,
            )
        },
    };
    out
}

/// The context `value` holds if [`prepare_context`] wrapped it.
///
/// SAFETY: `env` and `value` come from the running callback; the reference
/// lives no longer than the callback, during which `value` is reachable.
unsafe fn prepared<'a>(env: sys::napi_env, value: sys::napi_value) -> Option<&'a Context> {
    let mut tagged = false;
    let status = unsafe { sys::napi_check_object_type_tag(env, value, &PREPARED_TAG, &mut tagged) };
    if status != sys::Status::napi_ok || !tagged {
        return None;
    }
    let mut data = ptr::null_mut();
    let status = unsafe { sys::napi_unwrap(env, value, &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
        return None;
    }
    Some(unsafe { &*data.cast::<Context>() })
}

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Sets `target.boolValueFast`, `target.detailFast`, `target.prepareContext`
/// and `target.boolValuePrepared` (called once, by `index.js`).
#[napi(js_name = "installFastPath")]
pub fn install_fast_path(target: Object) -> Result<()> {
    let (env, raw) = (target.value().env, target.raw());
    let functions: [(&std::ffi::CStr, Callback); 4] = [
        (c"boolValueFast", bool_value_fast),
        (c"detailFast", detail_fast),
        (c"prepareContext", prepare_context),
        (c"boolValuePrepared", bool_value_prepared),
    ];
    for (name, callback) in functions {
        let mut f = ptr::null_mut();
        // SAFETY: `env` is the running callback's; each callback is a plain
        // `extern "C"` function with no data; `raw` is the object passed.
        let status = unsafe {
            sys::napi_create_function(
                env,
                name.as_ptr(),
                name.count_bytes() as isize,
                Some(callback),
                ptr::null_mut(),
                &mut f,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot create {name:?}")));
        }
        let status = unsafe { sys::napi_set_named_property(env, raw, name.as_ptr(), f) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot set {name:?}")));
        }
    }
    Ok(())
}
