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
/// (most of a row is on the larger side).
fn push_side(row: &[bool], comp: bool, out: &mut Vec<usize>) {
    let background = if comp { u64::from_le_bytes([1; 8]) } else { 0 };
    let mut chunks = row.chunks_exact(8);
    for (c, chunk) in chunks.by_ref().enumerate() {
        let word = u64::from_le_bytes(std::array::from_fn(|i| chunk[i] as u8));
        if word != background {
            out.extend((0..8).filter(|&i| chunk[i] != comp).map(|i| c * 8 + i));
        }
    }
    let start = row.len() - chunks.remainder().len();
    out.extend((start..row.len()).filter(|&j| row[j] != comp));
}

impl SmallSides {
    pub fn new(masks: ArrayView2<bool>) -> Self {
        let (n, d) = masks.dim();
        let mut indices = Vec::new();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut complemented = Vec::with_capacity(n);
        let mut sizes = Vec::with_capacity(n);
        offsets.push(0);
        for row in masks.rows() {
            let (size, comp) = match row.as_slice() {
                Some(slice) => {
                    let size: usize = slice.iter().map(|&b| b as usize).sum();
                    let comp = 2 * size > d;
                    push_side(slice, comp, &mut indices);
                    (size, comp)
                }
                None => {
                    let size = row.iter().filter(|&&b| b).count();
                    let comp = 2 * size > d;
                    indices.extend(row.iter().enumerate().filter_map(|(j, &b)| (b != comp).then_some(j)));
                    (size, comp)
                }
            };
            offsets.push(indices.len());
            complemented.push(comp);
            sizes.push(size);
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

    /// zᵀx for row r, given the total Σx.
    #[inline]
    pub fn dot(&self, r: usize, x: impl Fn(usize) -> f64, total: f64) -> f64 {
        let (idx, comp, _) = self.row(r);
        let partial: f64 = idx.iter().map(|&j| x(j)).sum();
        if comp {
            total - partial
        } else {
            partial
        }
    }
}
