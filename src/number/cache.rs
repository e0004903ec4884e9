//! A bounded cache of classifications in front of [`Classifier`].
//!
//! DESIGN.md §3 asks for one. Measured (`cargo bench --bench classify`,
//! release, 200k distinct numbers, two runs): a moka **hit costs 245–371 ns**,
//! a miss plus insert 640–748 ns, while **classifying from scratch costs
//! 77–137 ns**. A hit is ~3× *more* expensive than the work it saves, because classification is a
//! few table loads while a moka hit hashes the key, reads a concurrent hash
//! map, clones the entry and records the access for its eviction policy. The cache is kept for
//! callers that want one bounded place to hold results (and in case future
//! classification steps, such as a remote lookup, become expensive), but the
//! pipeline does not need it for speed.

use super::{Classification, Classifier, ParseError, Region, E164};
use moka::sync::Cache;
use std::sync::Arc;

/// [`Classifier`] with a bounded moka cache keyed by the E.164 number.
#[derive(Clone)]
pub struct CachedClassifier {
    inner: Arc<Classifier>,
    cache: Cache<E164, Classification>,
}

impl std::fmt::Debug for CachedClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedClassifier")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl CachedClassifier {
    /// At most `capacity` numbers are kept (TinyLFU admission, LRU eviction).
    pub fn new(inner: Arc<Classifier>, capacity: u64) -> Self {
        CachedClassifier {
            inner,
            cache: Cache::new(capacity),
        }
    }

    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.inner
    }

    pub fn parse(&self, input: &str, region: Option<Region>) -> Result<E164, ParseError> {
        self.inner.parse(input, region)
    }

    /// The cached classification, or a fresh one (then cached).
    pub fn classify(&self, number: &E164) -> Classification {
        if let Some(c) = self.cache.get(number) {
            return c;
        }
        let c = self.inner.classify(number);
        self.cache.insert(number.clone(), c.clone());
        c
    }

    /// Cached entries (approximate until moka runs its pending tasks).
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}
