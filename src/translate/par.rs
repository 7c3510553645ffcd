//! Data parallelism for translation's hot loops, on the standard library's scoped threads.
//!
//! Translation is pure and CPU-bound; its costliest steps (schema checks of plugin
//! configurations, payload hashes and tags of every entity) compute each item from that item
//! alone. [`map`] spreads such a loop over the machine's cores and returns the results in
//! input order, so the output is exactly the one-thread output.

use std::num::NonZero;

/// `items.iter().map(f).collect()`, the work split into contiguous chunks over up to
/// [`std::thread::available_parallelism`] threads (the calling thread takes the first chunk),
/// each of at least `min_per_thread` items: below that, a thread costs more than it saves.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZero::get)
        .min(items.len() / min_per_thread.max(1))
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let mut chunks = items.chunks(items.len().div_ceil(threads));
    let first = chunks.next().unwrap_or_default();
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = Vec::with_capacity(items.len());
        out.extend(first.iter().map(f));
        for handle in others {
            // A worker's panic (translation has none to expect) is passed on unchanged.
            out.extend(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_whatever_the_split() {
        let items: Vec<u64> = (0..10_007).collect();
        // Expected values computed without `map`: a plain sequential iterator.
        let expected: Vec<u64> = items.iter().map(|i| i * i + 1).collect();
        for min in [1, 2, 100, 5_000, 10_007, 20_000] {
            assert_eq!(
                map(&items, min, |i| i * i + 1),
                expected,
                "min_per_thread {min}"
            );
        }
        assert!(map(&[] as &[u64], 1, |i| *i).is_empty());
    }
}
