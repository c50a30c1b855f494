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
//!
//! [`TokenHasher`] keeps the secrets an operator chose (`--admin-token`)
//! as salted argon2id hashes: a generated secret has 256 random bits, and
//! its SHA-256 is safe to keep, but a chosen one may be guessable, and a
//! leaked SHA-256 of it is an offline dictionary attack away.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use vexil_raft::state::Shared;
use vexil_raft::{Role, TokenRecord};

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

/// How many verified and refused secrets each cache keeps (by digest).
const CACHE_CAP: usize = 4096;

/// The lengths a chosen secret may have (`--admin-token` takes 16 or
/// more): anything else is refused without an argon2 verification.
const CHOSEN_LEN: std::ops::RangeInclusive<usize> = 16..=1024;

/// Verifications that may wait for the one running; a request past them
/// is refused at once ([`Miss::Busy`], 503 with `Retry-After`) rather than
/// holding a thread, so a flood of made-up secrets cannot tie up the
/// runtime.
const MAX_WAITING: usize = 2;

/// Why [`TokenHasher::find`] found no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The secret matches no token: a failed authentication.
    Unknown,
    /// The secret might be a chosen token's, but the verifications it
    /// needs are all taken: not the caller's fault, so answered 503 with
    /// `Retry-After` and not counted against its address.
    Busy,
}

/// Finds the token a secret belongs to, whichever way its hash was kept,
/// and makes the salted hash of a chosen secret.
///
/// A generated secret (`vxl_<role>_<64 hex>`) is found by its SHA-256, a
/// map lookup. Any other secret may be a chosen one: its SHA-256 is looked
/// up first (a token made before salted hashes existed), then each salted
/// token (in practice, the one first admin token) is verified with argon2id,
/// which costs ~19 MiB and tens of milliseconds. So that this is paid once
/// per secret and node, not per request, a verified secret's digest is
/// remembered in memory with the token it opened (checked against the
/// state on every use, so a revocation applies at once), and so is a
/// refused one's, with the salted tokens it was checked against (a new
/// salted token makes it worth checking again). Only a secret of a length
/// a chosen one may have is verified; one verification runs at a time,
/// [`MAX_WAITING`] may wait, and any more are refused at once. Failed
/// attempts are also slowed per address by `net::guard`.
#[derive(Debug, Default)]
pub struct TokenHasher {
    /// Digest of a verified secret → (token name, its stored hash).
    verified: Mutex<HashMap<String, (String, String)>>,
    /// Digest of a refused secret → fingerprint of the salted hashes it
    /// was checked against.
    refused: Mutex<HashMap<String, u64>>,
    busy: Mutex<()>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl TokenHasher {
    /// The hash to store for a secret an operator chose. A secret in the
    /// generated form is hashed as generated ones are. Any other is
    /// argon2id-hashed (the crate's defaults, OWASP's recommendation:
    /// 19 MiB, 2 passes) with a random 16-byte salt. Nodes racing to
    /// create the first admin token propose different hashes under one
    /// request id; the first committed is the one every node keeps.
    pub fn hash_chosen(secret: &str) -> String {
        // Outside CHOSEN_LEN a secret is never verified against a salted
        // hash, so it is kept as its digest (the config refuses such an
        // `--admin-token`; this keeps the two rules from ever disagreeing).
        if is_generated(secret) || !CHOSEN_LEN.contains(&secret.len()) {
            return vexil_raft::hash_secret(secret);
        }
        let salt: [u8; 16] = rand::random();
        let Ok(salt) = argon2::password_hash::SaltString::encode_b64(&salt) else {
            unreachable!("16 bytes are a valid argon2 salt")
        };
        use argon2::PasswordHasher;
        match argon2::Argon2::default().hash_password(secret.as_bytes(), &salt) {
            Ok(hash) => hash.to_string(),
            // Only for a secret longer than 4 GiB: the API never gets one
            // this far (config caps and request limits).
            Err(e) => unreachable!("argon2 refused a secret: {e}"),
        }
    }

    /// `f` of the token whose secret is `secret`, or why there is none.
    pub fn find<R>(
        &self,
        shared: &Shared,
        secret: &str,
        f: impl Fn(&TokenRecord) -> R,
    ) -> Result<R, Miss> {
        let digest = vexil_raft::hash_secret(secret);
        let salted: Vec<(String, String)> = {
            let state = shared.read();
            if let Some(token) = state.token_by_hash(&digest) {
                return Ok(f(token));
            }
            if is_generated(secret) || !CHOSEN_LEN.contains(&secret.len()) {
                return Err(Miss::Unknown);
            }
            if let Some((name, hash)) = lock(&self.verified).get(&digest)
                && let Some(token) = state.tokens.get(name).filter(|t| &t.hash == hash)
            {
                return Ok(f(token));
            }
            state
                .tokens
                .values()
                .filter(|t| vexil_raft::is_salted_hash(&t.hash))
                .map(|t| (t.name.clone(), t.hash.clone()))
                .collect()
        };
        if salted.is_empty() {
            return Err(Miss::Unknown);
        }
        let fingerprint = fingerprint(&salted);
        if lock(&self.refused).get(&digest) == Some(&fingerprint) {
            return Err(Miss::Unknown);
        }
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_add(1, Ordering::AcqRel) > MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Miss::Busy);
        }
        let opened = blocking(|| {
            let _one = lock(&self.busy);
            salted.into_iter().find(|(_, hash)| verify(secret, hash))
        });
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let Some((name, hash)) = opened else {
            insert_capped(&mut lock(&self.refused), digest, fingerprint);
            return Err(Miss::Unknown);
        };
        let state = shared.read();
        let token = state
            .tokens
            .get(&name)
            .filter(|t| t.hash == hash)
            .ok_or(Miss::Unknown)?;
        insert_capped(&mut lock(&self.verified), digest, (name, hash));
        Ok(f(token))
    }
}

/// Whether `secret` has the form `tokens::new_secret` gives.
fn is_generated(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix("vxl_") else {
        return false;
    };
    let Some((role, random)) = rest.split_once('_') else {
        return false;
    };
    [Role::Sdk, Role::Viewer, Role::Editor, Role::Admin]
        .iter()
        .any(|r| r.as_str() == role)
        && random.len() == 64
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn verify(secret: &str, hash: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

fn fingerprint(salted: &[(String, String)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut sorted: Vec<&str> = salted.iter().map(|(_, h)| h.as_str()).collect();
    sorted.sort_unstable();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sorted.hash(&mut hasher);
    hasher.finish()
}

fn insert_capped<V>(map: &mut HashMap<String, V>, key: String, value: V) {
    if map.len() >= CACHE_CAP {
        // Bounded by clearing: a refill costs a verification per secret.
        map.clear();
    }
    map.insert(key, value);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs CPU-heavy `f` without stalling the other tasks of a multi-threaded
/// runtime's worker (the serve loop's); inline elsewhere (the simulation's
/// single thread, tests, start-up checks).
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
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

    fn shared_with(tokens: &[(&str, String)]) -> Shared {
        let mut state = vexil_raft::state::State::default();
        for (name, hash) in tokens {
            state.token_hashes.insert(hash.clone(), (*name).into());
            state.tokens.insert(
                (*name).into(),
                TokenRecord {
                    name: (*name).into(),
                    role: Role::Admin,
                    hash: hash.clone(),
                    created_at: chrono::DateTime::UNIX_EPOCH,
                    created_by: "system".into(),
                    scope: None,
                },
            );
        }
        Shared::new(state, Default::default())
    }

    #[test]
    fn a_chosen_secret_is_kept_salted_and_still_opens_its_token() {
        let hasher = TokenHasher::default();
        let hash = TokenHasher::hash_chosen("correct horse battery");
        assert!(vexil_raft::is_salted_hash(&hash), "{hash}");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        // Neither the secret nor its plain digest appears in what is kept,
        // and each hash has its own salt.
        assert!(!hash.contains(&vexil_raft::hash_secret("correct horse battery")));
        assert_ne!(hash, TokenHasher::hash_chosen("correct horse battery"));

        let shared = shared_with(&[("admin", hash.clone())]);
        let name = |s: &str| hasher.find(&shared, s, |t| t.name.clone()).ok();
        assert_eq!(name("correct horse battery").as_deref(), Some("admin"));
        // Remembered: the second lookup is the cache's, and still right.
        assert_eq!(name("correct horse battery").as_deref(), Some("admin"));
        assert_eq!(name("correct horse battery!"), None);
        assert_eq!(name("correct horse battery!"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn a_revoked_salted_token_stops_opening_even_when_remembered() {
        let hasher = TokenHasher::default();
        let hash = TokenHasher::hash_chosen("chosen-admin-secret");
        let shared = shared_with(&[("admin", hash.clone())]);
        assert!(hasher.find(&shared, "chosen-admin-secret", |_| ()).is_ok());
        // The same node after the revocation applied (another admin left).
        let after = shared_with(&[("other", vexil_raft::hash_secret("other-admin-secret"))]);
        assert_eq!(
            hasher.find(&after, "chosen-admin-secret", |_| ()),
            Err(Miss::Unknown)
        );
        // Created again under the same name with another secret: the
        // remembered digest must not open it.
        let again = shared_with(&[("admin", TokenHasher::hash_chosen("new-admin-secret"))]);
        assert_eq!(
            hasher.find(&again, "chosen-admin-secret", |_| ()),
            Err(Miss::Unknown)
        );
        assert!(hasher.find(&again, "new-admin-secret", |_| ()).is_ok());
    }

    #[test]
    fn a_refused_secret_is_checked_again_once_a_new_salted_token_exists() {
        let hasher = TokenHasher::default();
        let first = TokenHasher::hash_chosen("first-chosen-secret");
        let shared = shared_with(&[("admin", first.clone())]);
        assert_eq!(
            hasher.find(&shared, "second-chosen-secret", |_| ()),
            Err(Miss::Unknown)
        );
        let second = TokenHasher::hash_chosen("second-chosen-secret");
        let shared = shared_with(&[("admin", first), ("ops", second)]);
        let found = hasher
            .find(&shared, "second-chosen-secret", |t| t.name.clone())
            .ok();
        assert_eq!(found.as_deref(), Some("ops"));
    }

    #[test]
    fn a_verification_with_no_free_turn_is_busy_not_unknown() {
        let hasher = TokenHasher::default();
        let shared = shared_with(&[("admin", TokenHasher::hash_chosen("chosen-admin-secret"))]);
        // Every turn taken (one running, MAX_WAITING waiting).
        hasher
            .waiting
            .store(MAX_WAITING + 1, std::sync::atomic::Ordering::Release);
        assert_eq!(
            hasher.find(&shared, "chosen-admin-secret", |_| ()),
            Err(Miss::Busy)
        );
        assert_eq!(
            hasher.find(&shared, "another-chosen-secret", |_| ()),
            Err(Miss::Busy)
        );
        // Not remembered as refused: once a turn is free, it opens.
        hasher
            .waiting
            .store(0, std::sync::atomic::Ordering::Release);
        assert!(hasher.find(&shared, "chosen-admin-secret", |_| ()).is_ok());
        // Secrets that need no verification never wait for a turn.
        hasher
            .waiting
            .store(MAX_WAITING + 1, std::sync::atomic::Ordering::Release);
        assert_eq!(hasher.find(&shared, "short", |_| ()), Err(Miss::Unknown));
        assert!(hasher.find(&shared, "chosen-admin-secret", |_| ()).is_ok());
    }

    #[test]
    fn a_secret_outside_the_chosen_lengths_is_kept_as_its_digest() {
        let long = "y".repeat(1025);
        assert_eq!(
            TokenHasher::hash_chosen(&long),
            vexil_raft::hash_secret(&long)
        );
        let hasher = TokenHasher::default();
        let shared = shared_with(&[("admin", TokenHasher::hash_chosen(&long))]);
        assert!(hasher.find(&shared, &long, |_| ()).is_ok());
    }

    #[test]
    fn generated_secrets_and_old_digests_are_found_by_digest() {
        let hasher = TokenHasher::default();
        let generated = format!("vxl_sdk_{}", "ab".repeat(32));
        assert!(is_generated(&generated));
        assert!(!is_generated(&format!("vxl_root_{}", "ab".repeat(32))));
        assert!(!is_generated(&format!("vxl_sdk_{}", "AB".repeat(32))));
        assert!(!is_generated("vxl_sdk_abc"));
        // A generated-form secret is hashed as generated ones are.
        assert_eq!(
            TokenHasher::hash_chosen(&generated),
            vexil_raft::hash_secret(&generated)
        );
        // A chosen secret kept as SHA-256 by an earlier release still opens.
        let shared = shared_with(&[
            (
                "old-admin",
                vexil_raft::hash_secret("chosen-before-salting"),
            ),
            ("sdk", vexil_raft::hash_secret(&generated)),
        ]);
        let name = |s: &str| hasher.find(&shared, s, |t| t.name.clone()).ok();
        assert_eq!(name("chosen-before-salting").as_deref(), Some("old-admin"));
        assert_eq!(name(&generated).as_deref(), Some("sdk"));
        assert_eq!(name(&format!("vxl_sdk_{}", "cd".repeat(32))), None);
    }

    #[test]
    fn keys_differ_by_label_and_secret() {
        let a = DerivedKey::derive("s1-0123456789abcdef", "a").mac(b"m");
        assert_eq!(a, DerivedKey::derive("s1-0123456789abcdef", "a").mac(b"m"));
        assert_ne!(a, DerivedKey::derive("s1-0123456789abcdef", "b").mac(b"m"));
        assert_ne!(a, DerivedKey::derive("s2-0123456789abcdef", "a").mac(b"m"));
    }
}
