//! Keys derived from the cluster secret, for what every node must compute
//! alike and nothing stored may reveal: OFREP event tickets, and the
//! secret of a token created with an `Idempotency-Key` (so that a retry
//! answers the same secret, which the log never holds).
//!
//! Each key is HMAC-SHA256 of a fixed label, keyed with the cluster
//! secret: a data directory or a backup holds token hashes but never the
//! cluster secret, so neither can be turned into a ticket or a token.
//! Rotating the cluster secret changes every key: tickets handed out before
//! stop opening streams, and a retry of a token creation made before it
//! answers 422 instead of the first secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A 256-bit key for one purpose.
#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

impl DerivedKey {
    /// The key for `label` under `cluster_secret`.
    pub fn derive(cluster_secret: &str, label: &str) -> DerivedKey {
        DerivedKey(hmac(cluster_secret.as_bytes(), label.as_bytes()))
    }

    /// HMAC-SHA256 of `message` under this key.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        hmac(&self.0, message)
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (a long one is hashed first), so
    // `new_from_slice` cannot fail for it; `InvalidLength` exists for MACs
    // with fixed key sizes.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC-SHA256 accepts keys of every length")
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2, through the crate.
    #[test]
    fn hmac_matches_the_rfc_vector() {
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_differ_by_label_and_secret() {
        let a = DerivedKey::derive("s1-0123456789abcdef", "a").mac(b"m");
        assert_eq!(a, DerivedKey::derive("s1-0123456789abcdef", "a").mac(b"m"));
        assert_ne!(a, DerivedKey::derive("s1-0123456789abcdef", "b").mac(b"m"));
        assert_ne!(a, DerivedKey::derive("s2-0123456789abcdef", "a").mac(b"m"));
    }
}
