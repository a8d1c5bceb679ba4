//! Latencies of a long check, held in bounded memory.
//!
//! A check that measures every answer of an hour-long soak must not keep
//! every sample: [`Latencies`] keeps them exactly up to [`EXACT_SAMPLES`],
//! then moves to a fixed histogram (0.1 ms buckets to 1 s, 1 ms to 10 s,
//! 10 ms to 10 min; about 300 KiB whatever the count). Percentiles are
//! nearest-rank, exact while the samples are kept and the upper edge of
//! their bucket after, so a reported figure never understates a latency.

/// Samples kept exactly before the histogram takes over.
pub const EXACT_SAMPLES: usize = 4096;

/// (bucket width in ms, upper end in ms) of each range of the histogram.
const RANGES: [(f64, f64); 3] = [(0.1, 1_000.0), (1.0, 10_000.0), (10.0, 600_000.0)];

/// Latencies in milliseconds: count, maximum and percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    exact: Vec<f64>,
    histogram: Option<Vec<u32>>,
    count: u64,
    max: Option<f64>,
}

fn bucket_count() -> usize {
    let mut n = 0usize;
    let mut low = 0.0;
    for (width, high) in RANGES {
        n += ((high - low) / width).round() as usize;
        low = high;
    }
    n
}

/// The bucket of `ms` (values past the last range go to the last bucket).
fn bucket_of(ms: f64) -> usize {
    let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
    let mut base = 0usize;
    let mut low = 0.0;
    for (width, high) in RANGES {
        let n = ((high - low) / width).round() as usize;
        if ms < high {
            return base + (((ms - low) / width) as usize).min(n - 1);
        }
        base += n;
        low = high;
    }
    base - 1
}

/// The upper edge of bucket `i` in ms.
fn upper_edge(i: usize) -> f64 {
    let mut base = 0usize;
    let mut low = 0.0;
    for (width, high) in RANGES {
        let n = ((high - low) / width).round() as usize;
        if i < base + n {
            return low + (i - base + 1) as f64 * width;
        }
        base += n;
        low = high;
    }
    RANGES[RANGES.len() - 1].1
}

impl Latencies {
    /// No samples yet.
    pub fn new() -> Latencies {
        Latencies::default()
    }

    /// Adds one sample (ms).
    pub fn push(&mut self, ms: f64) {
        self.count += 1;
        self.max = Some(self.max.map_or(ms, |m| m.max(ms)));
        match &mut self.histogram {
            Some(h) => {
                let i = bucket_of(ms);
                h[i] = h[i].saturating_add(1);
            }
            None if self.exact.len() < EXACT_SAMPLES => self.exact.push(ms),
            None => {
                let mut h = vec![0u32; bucket_count()];
                for v in self.exact.drain(..).chain(std::iter::once(ms)) {
                    let i = bucket_of(v);
                    h[i] = h[i].saturating_add(1);
                }
                self.exact = Vec::new();
                self.histogram = Some(h);
            }
        }
    }

    /// How many samples were added.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The largest sample.
    pub fn max(&self) -> Option<f64> {
        self.max
    }

    /// The nearest-rank `p`th percentile (`None` without samples).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil() as u64;
        let rank = rank.clamp(1, self.count);
        match &self.histogram {
            None => {
                let mut v = self.exact.clone();
                v.sort_by(|a, b| a.total_cmp(b));
                v.get(rank as usize - 1).copied()
            }
            Some(h) => {
                let mut seen = 0u64;
                for (i, n) in h.iter().enumerate() {
                    seen += u64::from(*n);
                    if seen >= rank {
                        return Some(upper_edge(i).min(self.max.unwrap_or(f64::MAX)));
                    }
                }
                self.max
            }
        }
    }

    /// Bytes held for the samples (what the bound is about).
    pub fn held_bytes(&self) -> usize {
        self.exact.capacity() * std::mem::size_of::<f64>()
            + self
                .histogram
                .as_ref()
                .map_or(0, |h| h.capacity() * std::mem::size_of::<u32>())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failure
mod tests {
    use super::*;

    fn nearest_rank(values: &[f64], p: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    #[test]
    fn exact_while_few_samples() {
        let mut l = Latencies::new();
        let values: Vec<f64> = (0..1000).map(|i| (i * 7 % 1000) as f64 / 10.0).collect();
        for v in &values {
            l.push(*v);
        }
        for p in [50.0, 95.0, 99.0, 100.0] {
            assert_eq!(l.percentile(p), Some(nearest_rank(&values, p)));
        }
        assert_eq!(l.len(), 1000);
        assert_eq!(l.max(), Some(99.9));
        assert!(Latencies::new().percentile(50.0).is_none());
    }

    #[test]
    fn bounded_after_many_samples_and_never_understating() {
        let mut l = Latencies::new();
        let mut values = Vec::new();
        for i in 0..200_000u64 {
            let v = 1.0 + (i * 7919 % 5000) as f64 / 100.0; // 1.00 .. 50.99 ms
            values.push(v);
            l.push(v);
        }
        let bound = l.held_bytes();
        for _ in 0..100_000 {
            l.push(3.0);
        }
        assert_eq!(l.held_bytes(), bound, "no growth with the count");
        assert!(bound < 400 * 1024, "{bound} bytes");
        values.extend(std::iter::repeat_n(3.0, 100_000));
        for p in [50.0, 95.0] {
            let exact = nearest_rank(&values, p);
            let got = l.percentile(p).unwrap();
            assert!(
                got >= exact && got - exact <= 0.1 + 1e-9,
                "p{p}: {got} vs {exact}"
            );
        }
        assert_eq!(l.len(), 300_000);
    }

    #[test]
    fn buckets_cover_every_range_and_clamp() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(0.05), 0);
        assert_eq!(bucket_of(999.95), 9_999);
        assert_eq!(bucket_of(1_000.0), 10_000);
        assert_eq!(bucket_of(1e12), bucket_count() - 1);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert!((upper_edge(0) - 0.1).abs() < 1e-9);
        assert!((upper_edge(10_000) - 1_001.0).abs() < 1e-9);
    }
}
