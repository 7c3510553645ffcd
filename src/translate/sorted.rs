//! A map kept as one vector sorted by key, and the set made of it (`V = ()`).
//!
//! Translation builds many small ordered collections: a plugin object's referrers (nearly always
//! one), the core Services behind a Konnect service (nearly always one), and two tables of
//! every plugin object filled in key order (its resolved base, its infos). A `BTreeMap`
//! allocates a node of eleven slots for one element and leaves nodes half empty when filled in
//! order; a sorted vector holds exactly its elements (a map's first element gets a buffer of
//! one, where a `Vec` would make room for four). Lookups are binary searches; an insertion
//! shifts the elements after it, which is cheap for the small or in-order fills this is used
//! for.

use std::borrow::Borrow;
use std::cmp::Ordering;

/// Pairs sorted by key, without two equal keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SortedMap<K, V>(Vec<(K, V)>);

/// Keys sorted and without duplicates.
pub(crate) type SortedSet<K> = SortedMap<K, ()>;

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// An empty map with room for `n` pairs.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Where a key ordered by `cmp` (the key's order against the probe) is, or would go.
    fn search_by(&self, mut cmp: impl FnMut(&K) -> Ordering) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| cmp(k))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.search_by(|k| k.borrow().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Sets the value of `key`, replacing any.
    pub fn insert(&mut self, key: K, value: V) {
        match self.search_by(|k| k.cmp(&key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.put(i, (key, value)),
        }
    }

    /// Inserts a pair at `i`. A map without room gets room for one pair: most of these maps
    /// hold one (a `Vec` would make room for four); from there it grows as a `Vec` does.
    fn put(&mut self, i: usize, pair: (K, V)) {
        if self.0.capacity() == 0 {
            self.0.reserve_exact(1);
        }
        self.0.insert(i, pair);
    }

    /// Adds the pair `make` builds unless a key equal to the probe is present; `cmp` orders a
    /// key against the probe, and must agree with `K`'s order and with the key `make` builds.
    /// Lets a caller look up by a borrowed form `Borrow` cannot express (a pair of `&str` for
    /// a pair of `String`s) and allocate only when the key is new.
    pub fn insert_absent_by(
        &mut self,
        cmp: impl FnMut(&K) -> Ordering,
        make: impl FnOnce() -> (K, V),
    ) {
        if let Err(i) = self.search_by(cmp) {
            let pair = make();
            debug_assert!(i == 0 || self.0[i - 1].0 < pair.0);
            debug_assert!(i == self.0.len() || pair.0 < self.0[i].0);
            self.put(i, pair);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }
}

impl<K: Ord> SortedSet<K> {
    /// Adds `key` unless present.
    pub fn add(&mut self, key: K) {
        self.insert(key, ());
    }
}

impl<'s, K> IntoIterator for &'s SortedSet<K> {
    type Item = &'s K;
    type IntoIter = std::iter::Map<std::slice::Iter<'s, (K, ())>, fn(&'s (K, ())) -> &'s K>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, ())| k)
    }
}

impl<K: Ord> FromIterator<K> for SortedSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut set = Self::default();
        for key in keys {
            set.add(key);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// After any sequence of inserts, the map holds what a `BTreeMap` given the same
        /// inserts holds, in the same order, and answers the same lookups.
        #[test]
        fn holds_what_a_btree_map_holds(
            ops in proptest::collection::vec(("[a-d]{0,2}", 0u8..4), 0..40),
            probes in proptest::collection::vec("[a-d]{0,2}", 0..10),
        ) {
            let mut map = SortedMap::default();
            let mut expected = BTreeMap::new();
            for (k, v) in &ops {
                map.insert(k.clone(), *v);
                expected.insert(k.clone(), *v);
            }
            prop_assert_eq!(map.iter().collect::<Vec<_>>(), expected.iter().collect::<Vec<_>>());
            prop_assert_eq!(map.is_empty(), expected.is_empty());
            for p in &probes {
                prop_assert_eq!(map.get(p.as_str()), expected.get(p.as_str()));
            }
        }

        /// `insert_absent_by` keeps the first value of a key, as `BTreeMap::entry().or_insert`
        /// does, and builds a pair only for a new key.
        #[test]
        fn insert_absent_keeps_the_first(ops in proptest::collection::vec((("[a-c]{0,2}", "[a-c]{0,2}"), 0u8..4), 0..40)) {
            let mut map: SortedMap<(String, String), u8> = SortedMap::default();
            let mut expected = BTreeMap::new();
            let mut made = 0;
            for ((a, b), v) in &ops {
                let probe = (a.as_str(), b.as_str());
                map.insert_absent_by(
                    |(x, y)| (x.as_str(), y.as_str()).cmp(&probe),
                    || { made += 1; ((a.clone(), b.clone()), *v) },
                );
                expected.entry((a.clone(), b.clone())).or_insert(*v);
            }
            prop_assert_eq!(made, expected.len());
            prop_assert_eq!(map.iter().collect::<Vec<_>>(), expected.iter().collect::<Vec<_>>());
        }

        /// A map of one pair holds room for one: most referrer sets and a service's core
        /// Services hold one element, and a `Vec` would make room for four.
        #[test]
        fn one_pair_takes_room_for_one(key in "[a-c]{0,3}") {
            let mut set: SortedSet<String> = SortedSet::default();
            set.add(key.clone());
            prop_assert_eq!(set.0.capacity(), 1);
            let mut pairs: SortedMap<(String, String), ()> = SortedMap::default();
            pairs.insert_absent_by(|_| std::cmp::Ordering::Less, || ((key.clone(), key), ()));
            prop_assert_eq!(pairs.0.capacity(), 1);
        }

        /// A set collected from names holds what a `BTreeSet` of them holds, in order.
        #[test]
        fn a_set_is_a_sorted_set(names in proptest::collection::vec("[a-c]{0,3}", 0..20)) {
            let set: SortedSet<String> = names.iter().cloned().collect();
            let expected: std::collections::BTreeSet<&String> = names.iter().collect();
            prop_assert_eq!((&set).into_iter().collect::<Vec<_>>(), expected.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(set.keys().count(), set.iter().count());
        }
    }
}
