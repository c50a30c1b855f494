//! Golden vectors that pin the bucketing hash. They were computed with the
//! reference C implementation (`xxhsum -H3` on `salt.value`, modulo 100 000),
//! not with this crate, so any change to the hash input or algorithm fails here.

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use test_case::test_case;
use vexil_flags::{BucketHash, bucket};

#[test_case("new-checkout", "user-1" => 74_687 ; "the README example")]
#[test_case("new-checkout", "user-2" => 4_918 ; "second key")]
#[test_case("s1", "user-1" => 35_951 ; "a flag salt")]
#[test_case("exp-1", "user-1" => 80_157 ; "a rollout seed")]
#[test_case("new-checkout", "42" => 74_870 ; "a number attribute")]
#[test_case("flag", "ünïcode" => 75_330 ; "UTF-8 bytes")]
#[test_case("", "" => 57_395 ; "empty salt and value hash a lone dot")]
fn vexil_bucket_is_pinned(salt: &str, value: &str) -> u32 {
    bucket(BucketHash::Vexil, salt, value)
}

#[test]
fn salts_longer_than_the_short_input_path_are_pinned_too() {
    // 300 + 1 + 6 bytes takes XXH3's >240-byte streaming path.
    assert_eq!(
        bucket(BucketHash::Vexil, &"x".repeat(300), "user-1"),
        88_383
    );
}

#[test]
fn the_hash_is_reference_xxh3_64() {
    // XXH3_64bits("") from the xxHash specification.
    assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06_8005_38D3_94C2);
    assert_eq!(
        xxhash_rust::xxh3::xxh3_64(b"new-checkout.user-1"),
        0x7220_8218_70AC_0A3F
    );
}
