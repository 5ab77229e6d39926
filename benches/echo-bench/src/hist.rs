//! A small log-linear latency histogram (the HdrHistogram layout, cut down).
//!
//! Values are nanoseconds. Below `2 * SUB` every value has its own bucket; above, each
//! power of two `[2^e, 2^(e+1))` is split into `SUB` equal buckets, so a bucket is at most
//! `1/SUB` (3.1 %) of its value wide. Recording is an index computation and one
//! increment, cheap enough for the client's hot loop, and the fixed size (1,920 buckets
//! covering all of `u64`) makes per-thread histograms trivial to merge.

/// Linear sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 5;
/// Linear sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Number of buckets: `2 * SUB` exact ones, then `SUB` for each remaining exponent.
const BUCKETS: usize = (2 * SUB + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// A log-linear histogram of `u64` values (nanoseconds here).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// The bucket that holds `v`.
    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
        let shift = e - SUB_BITS; // >= 1
        let mantissa = v >> shift; // in [SUB, 2 * SUB)
        (2 * SUB + (shift as u64 - 1) * SUB + (mantissa - SUB)) as usize
    }

    /// The smallest value that falls in bucket `i`.
    fn lower_bound(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = (i - 2 * SUB) / SUB + 1;
        let mantissa = (i - 2 * SUB) % SUB + SUB;
        mantissa << shift
    }

    /// The largest value that falls in bucket `i`.
    fn upper_bound(i: usize) -> u64 {
        if i + 1 >= BUCKETS {
            u64::MAX
        } else {
            Self::lower_bound(i + 1) - 1
        }
    }

    /// Counts one value.
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding the
    /// `ceil(q * count)`-th smallest value, capped at the largest value seen; 0 if empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = (Self::lower_bound(i), Self::upper_bound(i));
                return (lo + (hi - lo) / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(Histogram::lower_bound(0), 0);
        for i in 1..BUCKETS {
            assert_eq!(
                Histogram::lower_bound(i),
                Histogram::upper_bound(i - 1) + 1,
                "bucket {i}"
            );
        }
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            127,
            128,
            1000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let i = Histogram::index(v);
            assert!(Histogram::lower_bound(i) <= v && v <= Histogram::upper_bound(i));
            let width = Histogram::upper_bound(i) - Histogram::lower_bound(i) + 1;
            assert!(
                width as f64 <= (v as f64 / SUB as f64).max(1.0) + 1.0,
                "{v}"
            );
        }
        assert_eq!(Histogram::index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_bucket_error() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.035, "{p50}");
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.035, "{p99}");
        let mut other = Histogram::new();
        other.record(7);
        h.merge(&other);
        assert_eq!(h.count(), 10_001);
        assert_eq!(Histogram::new().quantile(0.5), 0);
    }
}
