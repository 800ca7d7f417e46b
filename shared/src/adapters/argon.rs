//! argon2id password hashing.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;

use crate::domain::Error;
use crate::domain::password::{Password, PasswordHash};
use crate::ports::PasswordHasher;

/// The parameters every new hash is made with, in one place: OWASP's argon2id baseline
/// (19 MiB of memory, 2 passes, 1 lane). Stored hashes carry their own parameters in the PHC
/// string, so raising these later leaves old hashes verifiable; they are upgraded when the
/// user next proves the password.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

/// A hash of a password no account has, made with the parameters above, for logins that have
/// no hash to check (unknown account, no password): verifying against it costs what a real
/// check costs, so timing does not tell the cases apart. Constant, so no cold start pays for
/// making it; a test fails if the parameters change without it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$HL5qFTBzTh1uvfTPVTftXg$xNv1nc8I//lRPLwOPoHzLJFsiFPGP5ZXe2q2mSM3e9s";

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    pub fn new() -> Self {
        Self::with_params(MEMORY_KIB, ITERATIONS, LANES)
    }

    /// Other parameters, for tests of the upgrade path.
    pub fn with_params(memory_kib: u32, iterations: u32, lanes: u32) -> Self {
        let params = Params::new(memory_kib, iterations, lanes, Some(32))
            .expect("argon2 parameters are within range");
        Argon2Hasher { params }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, Error> {
        let password = password.clone();
        let argon = self.argon();
        // Tens of milliseconds of CPU: keep it off the async executor's threads.
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.expose().as_bytes())
                .map(|h| PasswordHash::from_phc(h.to_string()))
                .map_err(|e| Error::internal(format!("argon2 hashing failed: {e}")))
        })
        .await
        .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
    }

    async fn verify_nothing(&self, password: Option<&Password>) {
        let offered = password.map(|p| p.expose().to_owned()).unwrap_or_default();
        let argon = self.argon();
        let _ = tokio::task::spawn_blocking(move || {
            argon.verify_password(offered.as_bytes(), DUMMY_HASH)
        })
        .await;
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(hash.as_phc()) else {
            // Not a hash this service can check at all; nothing to upgrade from.
            return false;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(p) => {
                let want = &self.params;
                p.m_cost() != want.m_cost()
                    || p.t_cost() != want.t_cost()
                    || p.p_cost() != want.p_cost()
            }
            Err(_) => true,
        }
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, Error> {
        let password = password.clone();
        let hash = hash.clone();
        let argon = self.argon();
        tokio::task::spawn_blocking(move || {
            match argon.verify_password(password.expose().as_bytes(), hash.as_phc()) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(Error::internal(format!(
                    "stored password hash is unusable: {e}"
                ))),
            }
        })
        .await
        .map_err(|e| Error::internal(format!("verification task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(Zeroizing::new(s.to_owned()), None, None).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_the_configured_parameters() {
        let hasher = Argon2Hasher::new();
        let hash = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(
            hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_phc()
        );
        assert!(
            hasher
                .verify(&pw("correct horse battery"), &hash)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&pw("wrong horse battery"), &hash)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_hash_made_with_older_parameters_still_verifies() {
        let old = Argon2Hasher::with_params(8192, 1, 1)
            .hash(&pw("correct horse battery"))
            .await
            .unwrap();
        assert!(
            Argon2Hasher::new()
                .verify(&pw("correct horse battery"), &old)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn only_hashes_with_other_parameters_need_rehashing() {
        let current = Argon2Hasher::new();
        let new = current.hash(&pw("correct horse battery")).await.unwrap();
        assert!(!current.needs_rehash(&new));
        let old = Argon2Hasher::with_params(8192, 1, 1)
            .hash(&pw("correct horse battery"))
            .await
            .unwrap();
        assert!(current.needs_rehash(&old));
        assert!(!current.needs_rehash(&PasswordHash::from_phc("$2b$10$bcryptlooking".into())));
        assert!(
            !current.needs_rehash(&PasswordHash::from_phc(DUMMY_HASH.into())),
            "the dummy follows the parameters"
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = Argon2Hasher::new();
        let a = hasher.hash(&pw("correct horse battery")).await.unwrap();
        let b = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert_ne!(a, b);
    }
}
