//! argon2id password hashing.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{self, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use zeroize::Zeroize as _;

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

/// Bytes of hash output in every new PHC string.
const OUTPUT_LEN: usize = 32;

/// A hash of a password no account has, made with the parameters above, for logins that have
/// no hash to check (unknown account, no password): verifying against it costs what a real
/// check costs, so timing does not tell the cases apart. Constant, so no cold start pays for
/// making it; a test fails if the parameters change without it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$HL5qFTBzTh1uvfTPVTftXg$xNv1nc8I//lRPLwOPoHzLJFsiFPGP5ZXe2q2mSM3e9s";

/// At most this many memory buffers are kept between hashes: one per hash running at once,
/// which on Lambda (one event at a time) is one.
const KEPT_BUFFERS: usize = 4;

#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    memory: Arc<Memory>,
}

/// argon2's working memory (19 MiB at our parameters), allocated on the first hash and kept
/// for the next: a fresh allocation per hash can pay its page faults again each time, and
/// freed buffers of this size kept glibc's heaps growing (hundreds of MiB resident after a
/// few dozen hashes; docs/performance.md#argon2id). Wiped after every use, since argon2 does
/// not wipe it; a container holds one.
struct Memory {
    /// Blocks in a kept buffer: what the hasher's parameters need.
    blocks: usize,
    kept: Mutex<Vec<Buffer>>,
    /// A buffer made at init ([`Prepared`]), taken by the first hash.
    prepared: Mutex<Option<Prepared>>,
}

/// Blocks to hash on: an allocation of the hasher's own, or the mapping made at init.
enum Buffer {
    Heap(Box<[Block]>),
    Prepared(Mapping),
}

impl std::ops::Deref for Buffer {
    type Target = [Block];
    fn deref(&self) -> &[Block] {
        match self {
            Buffer::Heap(blocks) => blocks,
            Buffer::Prepared(mapping) => mapping.blocks(),
        }
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [Block] {
        match self {
            Buffer::Heap(blocks) => blocks,
            Buffer::Prepared(mapping) => mapping.blocks_mut(),
        }
    }
}

/// argon2id's memory at our parameters, made on a thread of its own that then backs every page
/// of it, so a hashing function's first hash does not pay the page faults
/// ([`crate::app::warm_up`]; docs/performance.md, "Cold starts"). The buffer is handed over as
/// soon as it is mapped, and the first hash takes it then, waiting at most for a step under
/// way rather than for every page. Until then the thread backs pages by writing them; from
/// then on by `MADV_POPULATE_WRITE`, which faults a page in without touching its contents, so
/// the hash writing the same memory is not disturbed, and a page it reaches first is simply
/// there already. A kernel without it (before Linux 5.14) leaves the pages the thread has not
/// reached to the hash.
pub struct Prepared(std::sync::mpsc::Receiver<Unclaimed>);

/// Bytes backed at a time: a claim waits for at most this much writing (a huge page's, where the
/// system backs this memory with them), and a `madvise` call holds the process's memory map
/// lock for this much work (longer only while the idle thread is preempted inside it).
const BACKED_AT_A_TIME: usize = 64 * 1024;

impl Prepared {
    /// Makes the buffer on the calling thread, sends it to the hasher holding the other end,
    /// and backs it.
    pub fn channel() -> (impl FnOnce() + Send + 'static, Prepared) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let make = move || {
            let blocks = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN))
                .map(|p| p.block_count())
                .unwrap_or_default();
            let Some(mapping) = Mapping::new(blocks) else {
                return;
            };
            let backing = mapping.backing.clone();
            // A send fails only when the hasher is gone: nothing to back.
            if tx.send(Unclaimed(mapping)).is_ok() {
                backing.back_from(0);
            }
        };
        (make, Prepared(rx))
    }

    /// The buffer, once mapped, claimed for the hasher.
    fn take(self) -> Option<Mapping> {
        self.0.recv().ok().map(Unclaimed::claim)
    }
}

/// A mapping the warm-up thread may still be writing: no way to its blocks until claimed.
struct Unclaimed(Mapping);

impl Unclaimed {
    /// The mapping, once the thread writes it no more (it may still ask the kernel to back it).
    fn claim(self) -> Mapping {
        self.0.backing.claim();
        self.0
    }
}

/// Blocks in an anonymous mapping of their own: zeroes, and no page of it backed until written
/// or asked for. Unmapped when dropped, once the warm-up thread has stopped backing it.
struct Mapping {
    start: std::ptr::NonNull<Block>,
    blocks: usize,
    backing: Backing,
}

// SAFETY: the mapping is owned like a `Box<[Block]>`, only through `&`/`&mut self`; while the
// warm-up thread may write it, it travels as `Unclaimed`, which lends no reference to it.
unsafe impl Send for Mapping {}

impl Mapping {
    /// None when the system has no memory to map.
    fn new(blocks: usize) -> Option<Mapping> {
        let len = blocks.checked_mul(Block::SIZE).filter(|&len| len > 0)?;
        // SAFETY: a fresh private anonymous mapping, aliasing nothing; checked below.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        let start = std::ptr::NonNull::new(start.cast::<Block>())?;
        Some(Mapping {
            start,
            blocks,
            // SAFETY: the whole mapping, which the `Mapping` unmaps only after `Backing::unmap`.
            backing: unsafe { Backing::new(start.as_ptr().cast(), len) },
        })
    }

    /// Only once claimed, or once the warm-up thread is done.
    fn blocks(&self) -> &[Block] {
        // SAFETY: page-aligned memory of `blocks` blocks, zero-filled by the kernel (a valid
        // `Block` is any bits), mapped as long as `self`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.blocks) }
    }

    /// Only once claimed ([`Prepared::take`]).
    fn blocks_mut(&mut self) -> &mut [Block] {
        // SAFETY: as in `blocks`; `&mut self` makes the borrow exclusive, and a claimed
        // mapping is written by no other thread.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.blocks) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.backing.unmap();
        // SAFETY: the mapping made in `new`, unmapped once; no borrow of it outlives `self`,
        // and the warm-up thread backs it no further.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.blocks * Block::SIZE);
        }
    }
}

/// The warm-up thread's backing of a mapping's pages: by writing them until the hasher claims
/// the mapping, then by asking the kernel, until the mapping is unmapped.
#[derive(Clone)]
struct Backing {
    start: *mut u8,
    len: usize,
    /// Closed by the claim.
    writes: Arc<Gate>,
    /// Closed before the unmapping.
    mapped: Arc<Gate>,
}

// SAFETY: `start` is only dereferenced, or handed to the kernel, inside the gate that allows it.
unsafe impl Send for Backing {}
unsafe impl Sync for Backing {}

/// A gate a thread steps through while it holds it, until another closes it. Closing waits out
/// a step under way; it never waits for the stepping thread to let go, since a thread that
/// finds it closed does not come back (a lock alone would: the warm-up thread took it again
/// and again before the hash got a turn).
#[derive(Default)]
struct Gate {
    closed: std::sync::atomic::AtomicBool,
    step: Mutex<()>,
}

impl Gate {
    fn enter(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        use std::sync::atomic::Ordering;
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let step = self.step.lock().unwrap_or_else(PoisonError::into_inner);
        // Seen under the lock: a close that took the lock before this did is seen here.
        (!self.closed.load(Ordering::Acquire)).then_some(step)
    }

    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        drop(self.step.lock().unwrap_or_else(PoisonError::into_inner));
    }

    #[cfg(test)]
    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Backing {
    /// # Safety
    /// `len` bytes from `start` must be a mapping that stays mapped until [`Backing::unmap`]
    /// returns, and that no one else reads or writes before [`Backing::claim`] returns.
    unsafe fn new(start: *mut u8, len: usize) -> Backing {
        Backing {
            start,
            len,
            writes: Arc::default(),
            mapped: Arc::default(),
        }
    }

    /// The hasher's from now on: once this returns, the thread writes no more.
    fn claim(&self) {
        self.writes.close();
    }

    /// Before the unmapping: once this returns, the thread asks the kernel for no more.
    fn unmap(&self) {
        self.writes.close();
        self.mapped.close();
    }

    /// Backs the pages from `offset`, a step at a time, to the end or until the kernel refuses
    /// or the mapping is gone; how many steps were taken.
    fn back_from(&self, offset: usize) -> usize {
        (offset..self.len)
            .step_by(BACKED_AT_A_TIME)
            .take_while(|&at| self.back(at))
            .count()
    }

    /// Backs one step's worth of pages from `offset` (a multiple of the page size); whether it
    /// did.
    fn back(&self, offset: usize) -> bool {
        let len = BACKED_AT_A_TIME.min(self.len.saturating_sub(offset));
        if let Some(_writing) = self.writes.enter() {
            for at in (offset..offset + len).step_by(page_size()) {
                // SAFETY: inside the mapping, which no one else touches before the claim;
                // volatile, since the memory is known to be zeroes and a plain write of a
                // zero may be dropped.
                unsafe { std::ptr::write_volatile(self.start.add(at), 0) };
            }
            return true;
        }
        let Some(_mapped) = self.mapped.enter() else {
            return false;
        };
        // SAFETY: whole pages inside the mapping, which is not unmapped while the gate is held.
        // MADV_POPULATE_WRITE neither reads nor writes the pages' contents, so the hash
        // writing them meanwhile is not disturbed.
        unsafe {
            libc::madvise(
                self.start.add(offset).cast(),
                len,
                libc::MADV_POPULATE_WRITE,
            ) == 0
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(1)
}

impl Memory {
    /// Runs `f` on `blocks` blocks of memory: a kept buffer when the parameters fit in it,
    /// else (a stored hash with larger parameters) one allocated for this call alone.
    fn with(
        &self,
        blocks: usize,
        f: impl FnOnce(&mut [Block]) -> argon2::Result<()>,
    ) -> argon2::Result<()> {
        if blocks > self.blocks {
            let mut buffer = Vec::new();
            buffer
                .try_reserve_exact(blocks)
                .map_err(|_| argon2::Error::OutOfMemory)?;
            buffer.resize(blocks, Block::new());
            let result = f(&mut buffer);
            wipe(&mut buffer);
            return result;
        }
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let kept = kept.or_else(|| self.take_prepared());
        let mut buffer = kept
            .unwrap_or_else(|| Buffer::Heap(vec![Block::new(); self.blocks].into_boxed_slice()));
        let result = f(&mut buffer[..blocks]);
        wipe(&mut buffer[..blocks]);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_BUFFERS {
            kept.push(buffer);
        }
        result
    }
}

impl Memory {
    /// The buffer made at init, once mapped; none if there was none, or it does not fit.
    fn take_prepared(&self) -> Option<Buffer> {
        let prepared = self
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        prepared
            .take()
            .map(Buffer::Prepared)
            .filter(|b| b.len() == self.blocks)
    }
}

/// Zeroes memory that held a password's derived blocks.
fn wipe(blocks: &mut [Block]) {
    for block in blocks {
        block.zeroize();
    }
}

impl Argon2Hasher {
    pub fn new() -> Self {
        Self::with_params(MEMORY_KIB, ITERATIONS, LANES)
    }

    /// Other parameters, for tests of the upgrade path.
    pub fn with_params(memory_kib: u32, iterations: u32, lanes: u32) -> Self {
        let params = Params::new(memory_kib, iterations, lanes, Some(OUTPUT_LEN))
            .expect("argon2 parameters are within range");
        let memory = Arc::new(Memory {
            blocks: params.block_count(),
            kept: Mutex::new(Vec::new()),
            prepared: Mutex::new(None),
        });
        Argon2Hasher { params, memory }
    }

    /// Hashes on the memory `prepared` makes ready, when it fits.
    pub fn with_prepared(self, prepared: Prepared) -> Self {
        *self
            .memory
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(prepared);
        self
    }

    /// A new PHC string for `password` with a random salt (the crate's `hash_password`, on
    /// kept memory).
    fn hash_phc(&self, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
        let salt = argon2::password_hash::try_generate_salt()
            .map_err(|_| argon2::password_hash::Error::Crypto)?;
        let salt = Salt::new(&salt)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = [0u8; OUTPUT_LEN];
        self.memory.with(self.params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password, &salt, &mut out, blocks)
        })?;
        let hash = phc::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(Output::new(&out)?),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` is the one hashed into the PHC string `phc`, by its own algorithm,
    /// version and parameters (the crate's `verify_password`, on kept memory); the outputs
    /// are compared in constant time.
    fn verify_phc(&self, password: &[u8], phc: &str) -> Result<(), argon2::password_hash::Error> {
        let parsed = phc::PasswordHash::new(phc)?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(argon2::password_hash::Error::PasswordInvalid);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm.as_str())?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(&parsed)?;
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = &mut buffer[..expected.len()];
        self.memory.with(params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password, salt, out, blocks)
        })?;
        if Output::new(out)? == *expected {
            Ok(())
        } else {
            Err(argon2::password_hash::Error::PasswordInvalid)
        }
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
        let hasher = self.clone();
        // Tens of milliseconds of CPU: keep it off the async executor's threads.
        tokio::task::spawn_blocking(move || {
            hasher
                .hash_phc(password.expose().as_bytes())
                .map(PasswordHash::from_phc)
                .map_err(|e| Error::internal(format!("argon2 hashing failed: {e}")))
        })
        .await
        .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
    }

    async fn verify_nothing(&self, password: Option<&Password>) {
        let offered = password.map(|p| p.expose().to_owned()).unwrap_or_default();
        let hasher = self.clone();
        let _ =
            tokio::task::spawn_blocking(move || hasher.verify_phc(offered.as_bytes(), DUMMY_HASH))
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
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || {
            match hasher.verify_phc(password.expose().as_bytes(), hash.as_phc()) {
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

    /// Debian's `argon2` tool (the C reference): `echo -n password | argon2 somesalt16bytes!
    /// -id -t 2 -k 19456 -p 1 -l 32 -e`.
    const REFERENCE: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$tPXA8KRaMxUDqoVFOkz5qceiysamiMSLxBrcC5sAtmo";

    #[tokio::test]
    async fn the_reference_implementations_hash_verifies_on_kept_memory() {
        let hasher = Argon2Hasher::new();
        let reference = PasswordHash::from_phc(REFERENCE.into());
        for _ in 0..2 {
            let offered = Password::offered(Zeroizing::new("password".into())).unwrap();
            assert!(hasher.verify(&offered, &reference).await.unwrap());
            let wrong = Password::offered(Zeroizing::new("passwore".into())).unwrap();
            assert!(!hasher.verify(&wrong, &reference).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_hash_made_with_larger_parameters_verifies_on_memory_of_its_own() {
        let larger = Argon2Hasher::new()
            .hash(&pw("correct horse battery"))
            .await
            .unwrap();
        let small = Argon2Hasher::with_params(8192, 1, 1);
        assert!(
            small
                .verify(&pw("correct horse battery"), &larger)
                .await
                .unwrap()
        );
        assert!(
            !small
                .verify(&pw("wrong horse battery"), &larger)
                .await
                .unwrap()
        );
        let kept = small.memory.kept.lock().unwrap();
        assert!(
            kept.iter().all(|b| b.len() == 8192),
            "only its own size is kept"
        );
    }

    #[tokio::test]
    async fn the_first_hash_waits_for_the_memory_prepared_at_init_and_keeps_it() {
        let (make, prepared) = Prepared::channel();
        let hasher = Argon2Hasher::new().with_prepared(prepared);
        // The thread is slow to start: the hash waits for its buffer instead of making one.
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            make();
        });
        let hash = hasher.hash(&pw("correct horse battery")).await.unwrap();
        thread.join().unwrap();
        assert!(
            hasher
                .verify(&pw("correct horse battery"), &hash)
                .await
                .unwrap()
        );
        assert!(hasher.memory.prepared.lock().unwrap().is_none());
        let kept = hasher.memory.kept.lock().unwrap();
        assert_eq!(kept.len(), 1, "the prepared buffer, and no other");
        assert!(kept[0].iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
    }

    /// Which pages of the mapping `backing` backs are resident, page by page.
    fn resident(backing: &Backing) -> Vec<bool> {
        let mut vec = vec![0u8; backing.len.div_ceil(page_size())];
        // SAFETY: `vec` has one byte per page of the range, which is a live mapping.
        let result = unsafe { libc::mincore(backing.start.cast(), backing.len, vec.as_mut_ptr()) };
        assert_eq!(result, 0);
        vec.iter().map(|&b| b & 1 == 1).collect()
    }

    fn zeroes(blocks: &[Block]) -> bool {
        blocks.iter().all(|b| b.as_ref().iter().all(|&w| w == 0))
    }

    #[test]
    fn a_new_mapping_has_no_page_backed_until_asked() {
        let mapping = Mapping::new(4096).unwrap();
        assert!(resident(&mapping.backing).iter().all(|&r| !r));
        assert!(zeroes(mapping.blocks()));
    }

    #[test]
    fn the_warm_up_backs_every_page_of_a_buffer_not_yet_claimed() {
        let (make, prepared) = Prepared::channel();
        make();
        let Unclaimed(mapping) = prepared.0.recv().unwrap();
        assert!(!mapping.backing.writes.is_closed(), "backed by writing");
        assert_eq!(mapping.blocks().len(), 19_456);
        assert!(resident(&mapping.backing).iter().all(|&r| r));
        assert!(zeroes(mapping.blocks()));
    }

    #[test]
    fn a_claimed_buffer_is_backed_without_its_contents_being_touched() {
        let mut mapping = Mapping::new(4096).unwrap();
        let backing = mapping.backing.clone();
        backing.claim();
        let (written, _) = mapping.blocks_mut().split_at_mut(2048);
        written.iter_mut().for_each(|b| b.as_mut().fill(u64::MAX));
        let steps = backing.back_from(0);
        if steps > 0 {
            assert_eq!(steps, backing.len / BACKED_AT_A_TIME, "a kernel that backs");
            assert!(resident(&backing).iter().all(|&r| r));
        }
        let (written, untouched) = mapping.blocks().split_at(2048);
        assert!(
            written
                .iter()
                .all(|b| b.as_ref().iter().all(|&w| w == u64::MAX))
        );
        assert!(zeroes(untouched));
    }

    #[test]
    fn a_buffer_once_unmapped_is_backed_no_further() {
        let mapping = Mapping::new(4096).unwrap();
        let backing = mapping.backing.clone();
        drop(mapping);
        assert!(backing.writes.is_closed() && backing.mapped.is_closed());
        assert!(!backing.back(0));
        assert_eq!(backing.back_from(0), 0);
    }

    #[test]
    fn a_hash_matches_the_reference_while_the_rest_of_its_memory_is_backed() {
        let mapping = Mapping::new(19_456).unwrap();
        let backing = mapping.backing.clone();
        assert!(backing.back(0), "a step written before the claim");
        let mut mapping = Unclaimed(mapping).claim();
        let start = Arc::new(std::sync::Barrier::new(2));
        let thread = std::thread::spawn({
            let (backing, start) = (backing.clone(), start.clone());
            move || {
                start.wait();
                backing.back_from(BACKED_AT_A_TIME)
            }
        });
        start.wait();
        let reference = phc::PasswordHash::new(REFERENCE).unwrap();
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::try_from(&reference).unwrap(),
        );
        let mut out = [0u8; OUTPUT_LEN];
        argon
            .hash_password_into_with_memory(
                b"password",
                reference.salt.as_ref().unwrap(),
                &mut out,
                mapping.blocks_mut(),
            )
            .unwrap();
        let steps = thread.join().unwrap();
        assert_eq!(Output::new(&out).unwrap(), reference.hash.unwrap());
        assert!(
            steps == 0 || steps == backing.len / BACKED_AT_A_TIME - 1,
            "every step after the claim asked the kernel, or none where it cannot: {steps}"
        );
    }

    #[tokio::test]
    async fn the_first_hash_takes_the_prepared_buffer_and_matches_the_reference() {
        for _ in 0..3 {
            let (make, prepared) = Prepared::channel();
            let hasher = Argon2Hasher::new().with_prepared(prepared);
            let thread = std::thread::spawn(make);
            let offered = Password::offered(Zeroizing::new("password".into())).unwrap();
            let reference = PasswordHash::from_phc(REFERENCE.into());
            assert!(hasher.verify(&offered, &reference).await.unwrap());
            thread.join().unwrap();
            let kept = hasher.memory.kept.lock().unwrap();
            assert_eq!(kept.len(), 1, "the prepared buffer, and no other");
            assert!(matches!(kept[0], Buffer::Prepared(_)));
        }
    }

    #[tokio::test]
    async fn a_hash_goes_on_without_prepared_memory_when_its_thread_is_gone() {
        let (make, prepared) = Prepared::channel();
        drop(make);
        let hasher = Argon2Hasher::new().with_prepared(prepared);
        let hash = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(
            hasher
                .verify(&pw("correct horse battery"), &hash)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn memory_is_kept_between_hashes_and_wiped_after_each() {
        let hasher = Argon2Hasher::new();
        let first = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(
            hasher
                .verify(&pw("correct horse battery"), &first)
                .await
                .unwrap()
        );
        let password = pw("correct horse battery");
        let (a, b) = tokio::join!(hasher.hash(&password), hasher.verify(&password, &first));
        a.unwrap();
        assert!(b.unwrap());
        let kept = hasher.memory.kept.lock().unwrap();
        assert!((1..=2).contains(&kept.len()), "{} buffers kept", kept.len());
        for buffer in kept.iter() {
            assert_eq!(buffer.len(), 19_456);
            assert!(
                buffer.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)),
                "a kept buffer is wiped"
            );
        }
    }

    #[tokio::test]
    async fn unusable_hashes_are_errors_and_hashes_without_output_do_not_match() {
        let hasher = Argon2Hasher::new();
        let offered = pw("correct horse battery");
        for unusable in [
            "$2b$10$bcryptlooking",
            "$argon2id$v=19$m=x,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ$tPXA8KRaMxUDqoVFOkz5qceiysamiMSLxBrcC5sAtmo",
        ] {
            let hash = PasswordHash::from_phc(unusable.into());
            assert!(hasher.verify(&offered, &hash).await.is_err(), "{unusable}");
        }
        let no_output =
            PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQxNmJ5dGVzIQ".into());
        assert!(!hasher.verify(&offered, &no_output).await.unwrap());
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = Argon2Hasher::new();
        let a = hasher.hash(&pw("correct horse battery")).await.unwrap();
        let b = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert_ne!(a, b);
    }
}
