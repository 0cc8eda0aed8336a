//! Coalitions stored by their smaller side: KernelSHAP's samples are mostly tiny or nearly full,
//! so sums over z zᵀ and C z cost O(min(k, d−k)) per entry instead of O(d).

use ndarray::ArrayView2;

/// The smaller side of every row of a `(n_samples, d)` mask matrix.
pub(crate) struct SmallSides {
    /// Indices of all rows' smaller sides, concatenated.
    indices: Vec<usize>,
    /// `offsets[r]..offsets[r + 1]` indexes row r's entries in `indices`.
    offsets: Vec<usize>,
    /// Whether row r's stored side is its absent players (the row has more than d/2 players).
    complemented: Vec<bool>,
    /// Number of players present in each row.
    sizes: Vec<usize>,
}

/// Append the positions where `row` differs from `comp`, skipping 8 equal entries at a time
/// (most of a row is on the larger side) and reading the differing bytes of a word by bit tricks.
fn push_side(bytes: &[u8], comp: bool, out: &mut Vec<usize>) {
    let background = if comp { u64::from_le_bytes([1; 8]) } else { 0 };
    let mut chunks = bytes.chunks_exact(8);
    for (c, chunk) in chunks.by_ref().enumerate() {
        // Each differing byte of `diff` is 0x01: one set bit per position to record.
        let mut diff = u64::from_le_bytes(chunk.try_into().expect("chunks of 8")) ^ background;
        while diff != 0 {
            out.push(c * 8 + (diff.trailing_zeros() / 8) as usize);
            diff &= diff - 1;
        }
    }
    let start = bytes.len() - chunks.remainder().len();
    out.extend((start..bytes.len()).filter(|&j| bytes[j] != comp as u8));
}

/// The bytes of a bool slice (each 0 or 1).
pub(crate) fn as_bytes(row: &[bool]) -> &[u8] {
    // SAFETY: bool has the size and alignment of u8 and is always 0 or 1.
    unsafe { std::slice::from_raw_parts(row.as_ptr().cast::<u8>(), row.len()) }
}

impl SmallSides {
    pub fn new(masks: ArrayView2<bool>) -> Self {
        let (n, d) = masks.dim();
        let sizes: Vec<usize> = masks
            .rows()
            .into_iter()
            .map(|row| match row.as_slice() {
                Some(slice) => as_bytes(slice).iter().map(|&b| b as usize).sum(),
                None => row.iter().filter(|&&b| b).count(),
            })
            .collect();
        let complemented: Vec<bool> = sizes.iter().map(|&k| 2 * k > d).collect();
        let mut indices = Vec::with_capacity(sizes.iter().map(|&k| k.min(d - k)).sum());
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for (row, &comp) in masks.rows().into_iter().zip(&complemented) {
            match row.as_slice() {
                Some(slice) => push_side(as_bytes(slice), comp, &mut indices),
                None => indices.extend(row.iter().enumerate().filter_map(|(j, &b)| (b != comp).then_some(j))),
            }
            offsets.push(indices.len());
        }
        SmallSides {
            indices,
            offsets,
            complemented,
            sizes,
        }
    }

    /// Row r: (stored indices, whether they are the absent players, number of present players).
    #[inline]
    pub fn row(&self, r: usize) -> (&[usize], bool, usize) {
        (
            &self.indices[self.offsets[r]..self.offsets[r + 1]],
            self.complemented[r],
            self.sizes[r],
        )
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// zᵀx for row r, given the total Σx, with x given by a function of the player.
    #[inline]
    pub fn dot_with(&self, r: usize, x: impl Fn(usize) -> f64, total: f64) -> f64 {
        let (idx, comp, _) = self.row(r);
        let partial: f64 = idx.iter().map(|&j| x(j)).sum();
        if comp {
            total - partial
        } else {
            partial
        }
    }

    /// zᵀx for row r, given the total Σx.
    #[inline]
    pub fn dot(&self, r: usize, x: &[f64], total: f64) -> f64 {
        let (idx, comp, _) = self.row(r);
        let partial: f64 = idx.iter().map(|&j| x[j]).sum();
        if comp {
            total - partial
        } else {
            partial
        }
    }
}
