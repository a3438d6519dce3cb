//! Bad arguments through the C ABI come back as status codes with a one-line message (and
//! never as a crash); the message of a success is empty.

use std::ffi::{CStr, CString};
use std::ptr;

use provmark_ffi::*;

fn last_error() -> String {
    // SAFETY: provmark_last_error returns a valid NUL-terminated string owned by this thread.
    unsafe { CStr::from_ptr(provmark_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn demo_profile() -> *mut ProvmarkProfile {
    let path = CString::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/demo/PUBLIC-DEMO-KEY.profile.json"
    ))
    .expect("path");
    let mut p = ptr::null_mut();
    // SAFETY: a valid C string and a valid out-pointer.
    let st = unsafe { provmark_profile_load(path.as_ptr(), &mut p) };
    assert_eq!(st, ProvmarkStatus::PROVMARK_OK, "{}", last_error());
    assert_eq!(last_error(), "");
    p
}

#[test]
fn errors_are_codes_with_messages() {
    let mut p = ptr::null_mut();
    let missing = CString::new("/nonexistent/key.json").expect("path");
    // SAFETY: valid C string and out-pointer.
    let st = unsafe { provmark_profile_load(missing.as_ptr(), &mut p) };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_PROFILE);
    assert!(p.is_null() && last_error().contains("/nonexistent/key.json"));
    // SAFETY: NULL path is allowed and reported.
    let st = unsafe { provmark_profile_load(ptr::null(), &mut p) };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_NULL);
    assert!(last_error().contains("path is NULL"));

    let profile = demo_profile();
    let mut s = ptr::null_mut();
    // SAFETY: live profile, NULL account (master key), valid out-pointer.
    let st = unsafe { provmark_sampler_new(profile, ptr::null(), 100, 1, &mut s) };
    assert_eq!(st, ProvmarkStatus::PROVMARK_OK);

    let ctx = [1u32, 2];
    let mut logits = [0.5f32; 100];
    let mut token = 0u32;
    // Context shorter than the context width.
    // SAFETY: live sampler; the slices are valid for the lengths passed.
    let st = unsafe {
        provmark_sampler_choose(
            s,
            ctx.as_ptr(),
            1,
            logits.as_ptr(),
            100,
            &mut token,
            ptr::null_mut(),
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_EMBED);
    assert!(last_error().contains("context width"), "{}", last_error());
    // Wrong vocabulary length.
    // SAFETY: as above.
    let st = unsafe {
        provmark_sampler_choose(
            s,
            ctx.as_ptr(),
            2,
            logits.as_ptr(),
            99,
            &mut token,
            ptr::null_mut(),
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_EMBED);
    // NaN logit: rejected before anything is modified.
    logits[7] = f32::NAN;
    let mut biased = true;
    // SAFETY: as above; `logits` is mutable and unaliased.
    let st =
        unsafe { provmark_sampler_bias(s, ctx.as_ptr(), 2, logits.as_mut_ptr(), 100, &mut biased) };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_EMBED);
    assert!(last_error().contains("position 7"), "{}", last_error());
    assert!(logits.iter().enumerate().all(|(i, &l)| i == 7 || l == 0.5));
    // NULL out-pointer for the token.
    logits[7] = 0.5;
    // SAFETY: as above; a NULL token pointer is reported.
    let st = unsafe {
        provmark_sampler_choose(
            s,
            ctx.as_ptr(),
            2,
            logits.as_ptr(),
            100,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_NULL);
    // A good call clears the message.
    // SAFETY: as above.
    let st = unsafe {
        provmark_sampler_choose(
            s,
            ctx.as_ptr(),
            2,
            logits.as_ptr(),
            100,
            &mut token,
            ptr::null_mut(),
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_OK);
    assert!(token < 100 && last_error().is_empty());

    // check: empty ids and accounts on a profile are reported; JSON on success.
    let mut json = ptr::null_mut();
    // SAFETY: live profile; zero ids with a NULL pointer is allowed (and an error: no ids).
    let st = unsafe {
        provmark_check(
            profile,
            ptr::null(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            0.0,
            &mut json,
            ptr::null_mut(),
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_CHECK);
    assert!(json.is_null());
    let text = CString::new("A short answer about the weather in spring.").expect("text");
    let mut marked = true;
    // SAFETY: live profile, valid C string, valid out-pointers.
    let st = unsafe {
        provmark_check(
            profile,
            text.as_ptr(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            2.0,
            &mut json,
            &mut marked,
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_ERR_CHECK);
    assert!(last_error().contains("alpha"), "{}", last_error());
    // SAFETY: as above.
    let st = unsafe {
        provmark_check(
            profile,
            text.as_ptr(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            0.0,
            &mut json,
            &mut marked,
        )
    };
    assert_eq!(st, ProvmarkStatus::PROVMARK_OK, "{}", last_error());
    // SAFETY: a string returned by provmark_check.
    let s_json = unsafe { CStr::from_ptr(json) }
        .to_string_lossy()
        .into_owned();
    assert!(s_json.starts_with("{\"verdict\":\"not_watermarked\"") && !marked);
    // SAFETY: each handle/string is released once.
    unsafe {
        provmark_string_free(json);
        provmark_sampler_free(s);
        provmark_profile_free(profile);
        provmark_profile_free(ptr::null_mut());
    }
}
