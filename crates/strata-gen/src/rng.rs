//! A tiny deterministic PRNG (SplitMix64).
//!
//! The generator must produce byte-identical output for the same options on
//! every platform and every release, so it uses its own fixed algorithm rather
//! than a crate whose stream might change between versions.

/// Golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 output function: a strong 64-bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 generator. Independent streams are derived with [`Rng::stream`]
/// so that, e.g., one service's content does not depend on how many random
/// numbers another service consumed.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream identified by `(seed, a, b)`.
    pub(crate) fn stream(seed: u64, a: u64, b: u64) -> Self {
        let s = mix(seed ^ 0x5354_5241_5441_4745); // "STRATAGE"
        let s = mix(s ^ a.wrapping_mul(GAMMA));
        let s = mix(s ^ b
            .wrapping_add(0x1234_5678)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Rng(s)
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform integer in `0..n` (`n > 0`), via Lemire's multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform `usize` in `0..n` (`n > 0`).
    pub(crate) fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in `lo..=hi` (`lo <= hi`).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + self.below(span) as i64
    }

    /// Uniform `usize` in `lo..=hi` (`lo <= hi`).
    pub(crate) fn range_usize(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(lo <= hi);
        lo + self.below_usize(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniformly chosen element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below_usize(items.len())]
    }

    /// `k` distinct integers from `0..n`, sorted ascending (`k <= n`).
    pub(crate) fn sample_sorted(&mut self, n: usize, k: usize) -> Vec<u32> {
        debug_assert!(k <= n);
        if k == 0 {
            return Vec::new();
        }
        if k.saturating_mul(3) >= n {
            // Dense: partial Fisher-Yates.
            let mut all: Vec<u32> = (0..n as u32).collect();
            for i in 0..k {
                let j = i + self.below_usize(n - i);
                all.swap(i, j);
            }
            all.truncate(k);
            all.sort_unstable();
            all
        } else {
            // Sparse: rejection into a sorted vector (k is small here).
            let mut out: Vec<u32> = Vec::with_capacity(k);
            while out.len() < k {
                let x = self.below_usize(n) as u32;
                if let Err(pos) = out.binary_search(&x) {
                    out.insert(pos, x);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(1, 2, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(1, 2, 3).next_u64(),
            Rng::stream(1, 2, 4).next_u64()
        );
        assert_ne!(
            Rng::stream(1, 2, 3).next_u64(),
            Rng::stream(2, 2, 3).next_u64()
        );
    }

    #[test]
    fn sample_sorted_is_distinct_and_in_range() {
        let mut r = Rng::stream(7, 0, 0);
        for (n, k) in [(10, 10), (10, 3), (1000, 5), (1, 1), (5, 0)] {
            let s = r.sample_sorted(n, k);
            assert_eq!(s.len(), k);
            assert!(s.windows(2).all(|w| w[0] < w[1]));
            assert!(s.iter().all(|&x| (x as usize) < n));
        }
    }

    #[test]
    fn range_bounds() {
        let mut r = Rng::stream(0, 0, 0);
        for _ in 0..1000 {
            let x = r.range(-3, 3);
            assert!((-3..=3).contains(&x));
        }
    }
}
