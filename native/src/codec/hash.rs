//! Key hashing and partition choice (VM-free, unit-tested without a VM).

use once_cell::sync::Lazy;

/// Fixed seeds: hashes are only used inside this VM, and fixed seeds keep a
/// key's partition stable for the table's whole life.
static HASHER: Lazy<ahash::RandomState> = Lazy::new(|| {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
});

/// Hash of a canonical key encoding.
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// The partition (of `n`) a key hash belongs to. Uses the hash's middle
/// bits: the hash table inside a partition uses the low bits (bucket) and the
/// top seven (control byte), and both must stay uniform within a partition.
#[inline]
pub fn partition_of(hash: u64, n: usize) -> usize {
    ((((hash >> 20) & 0xffff_ffff) * n as u64) >> 32) as usize
}

/// The lock stripe (of `stripes`, a power of two) within a partition: bits
/// 52..58, apart from the partition's (20..52) and the hash table's.
#[inline]
pub fn stripe_of(hash: u64, stripes: usize) -> usize {
    ((hash >> 52) as usize) & (stripes - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imm_key(word: u64) -> Vec<u8> {
        let mut k = vec![1u8];
        k.extend_from_slice(&word.to_le_bytes());
        k
    }

    #[test]
    fn equal_keys_hash_equal_and_distinct_keys_differ() {
        assert_eq!(hash_key(&imm_key(0x1f)), hash_key(&imm_key(0x1f)));
        assert_ne!(hash_key(&imm_key(0x1f)), hash_key(&imm_key(0x2f)));
    }

    #[test]
    fn sequential_keys_spread_evenly_over_partitions() {
        for n in [2usize, 7, 64] {
            let mut counts = vec![0usize; n];
            let total = 64_000;
            for i in 0..total as u64 {
                // small integers: raw word (i << 4) | 0xf
                counts[partition_of(hash_key(&imm_key((i << 4) | 0xf)), n)] += 1;
            }
            let expected = total / n;
            for c in counts {
                assert!(
                    c > expected * 8 / 10 && c < expected * 12 / 10,
                    "n={n} count={c}"
                );
            }
        }
    }

    #[test]
    fn stripes_spread_evenly_within_a_partition() {
        let mut counts = [0usize; 32];
        for i in 0..64_000u64 {
            let h = hash_key(&imm_key((i << 4) | 0xf));
            if partition_of(h, 2) == 1 {
                counts[stripe_of(h, 32)] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c > 700 && c < 1300), "{counts:?}");
    }

    #[test]
    fn keys_within_a_partition_keep_uniform_bucket_bits() {
        // The low bits (hash table bucket) of keys in partition 0 of 2 must
        // still spread over all buckets.
        let mut buckets = [0usize; 16];
        for i in 0..32_000u64 {
            let h = hash_key(&imm_key((i << 4) | 0xf));
            if partition_of(h, 2) == 0 {
                buckets[(h & 15) as usize] += 1;
            }
        }
        assert!(buckets.iter().all(|&b| b > 700), "{buckets:?}");
    }
}
