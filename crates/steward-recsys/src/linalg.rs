//! The few dense kernels the models need (dot, axpy, Gram matrices, Cholesky),
//! written as plain slice loops with independent accumulators so LLVM turns
//! them into SIMD without `unsafe` or a BLAS dependency.

/// `a · b` with sixteen partial sums (four SSE accumulators), so the loop is
/// not bound by the latency of one chain of adds. The sum order is fixed, so
/// results do not depend on the thread that computes them.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0f32; 16];
    let chunks_a = a.chunks_exact(16);
    let chunks_b = b.chunks_exact(16);
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..16 {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    let mut sum = horizontal_sum(acc);
    for (x, y) in tail_a.iter().zip(tail_b) {
        sum += x * y;
    }
    sum
}

/// Kept out of line on purpose: inlined, LLVM's SLP vectoriser shapes the
/// accumulators of [`dot`]'s loop after this reduction tree and fills the
/// loop with shuffles; an 8-lane loop with an inlined sequential sum was
/// ~30% slower in ALS (measured on MovieLens-100k).
#[inline(never)]
fn horizontal_sum(acc: [f32; 16]) -> f32 {
    let mut quarter = [0f32; 4];
    for lane in 0..4 {
        quarter[lane] = (acc[lane] + acc[lane + 4]) + (acc[lane + 8] + acc[lane + 12]);
    }
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// `y += a * x`.
#[inline]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `out = m · v` for a symmetric row-major `n × n` matrix, as the sum of
/// m's rows scaled by v's entries (row a of a symmetric m is its column a):
/// vertical adds only, no horizontal reduction per output.
#[inline]
pub(crate) fn symmetric_matvec(m: &[f32], v: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (row, &scale) in m.chunks_exact(v.len()).zip(v) {
        axpy(scale, row, out);
    }
}

/// [`symmetric_matvec`] for a compile-time size: the accumulator lives on
/// the stack in registers' reach (measured ~2x faster than one dot product
/// per output at n = 64).
#[inline]
pub(crate) fn symmetric_matvec_fixed<const N: usize>(m: &[f32], v: &[f32], out: &mut [f32]) {
    let mut acc = [0f32; N];
    for (row, &scale) in m[..N * N].chunks_exact(N).zip(&v[..N]) {
        for (slot, value) in acc.iter_mut().zip(row) {
            *slot += scale * value;
        }
    }
    out[..N].copy_from_slice(&acc);
}

/// `Σ_r rowᵣ rowᵣᵀ` over the rows of a row-major `rows × n` matrix, summed in
/// parallel over blocks of rows (f × f, full symmetric).
pub(crate) fn gram(matrix: &[f32], n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const BLOCK: usize = 256;
    // Partials are summed in block order, not by rayon's reduce tree, so the
    // result does not depend on how work was split between threads.
    let partials: Vec<Vec<f32>> = matrix
        .par_chunks(BLOCK * n)
        .map(|block| {
            let mut partial = vec![0f32; n * n];
            for row in block.chunks_exact(n) {
                for (a, out_row) in partial.chunks_exact_mut(n).enumerate() {
                    axpy(row[a], row, out_row);
                }
            }
            partial
        })
        .collect();
    let mut total = vec![0f32; n * n];
    for partial in &partials {
        axpy(1.0, partial, &mut total);
    }
    total
}

/// In-place Cholesky `A = L Lᵀ` of a row-major symmetric positive-definite
/// `n × n` matrix (lower triangle written; upper left as is). `false` when the
/// matrix is not positive definite.
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let (done, rest) = a.split_at_mut(j * n);
        let row_j = &mut rest[..n];
        // L[j][k] for k < j, then the diagonal.
        for k in 0..j {
            let row_k = &done[k * n..k * n + n];
            let sum = dot64(&row_j[..k], &row_k[..k]);
            row_j[k] = (row_j[k] - sum) / row_k[k];
        }
        let diagonal = row_j[j] - dot64(&row_j[..j], &row_j[..j]);
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return false;
        }
        row_j[j] = diagonal.sqrt();
    }
    true
}

/// Solves `L Lᵀ x = b` in place given the factor from [`cholesky`].
pub(crate) fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + n];
        b[i] = (b[i] - dot64(&row[..i], &b[..i])) / row[i];
    }
    for i in (0..n).rev() {
        let mut sum = b[i];
        for k in i + 1..n {
            sum -= l[k * n + i] * b[k];
        }
        b[i] = sum / l[i * n + i];
    }
}

#[inline]
pub(crate) fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut partial = [0f64; 4];
    let chunks_a = a.chunks_exact(4);
    let chunks_b = b.chunks_exact(4);
    let (tail_a, tail_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for lane in 0..4 {
            partial[lane] += ca[lane] * cb[lane];
        }
    }
    let mut sum = (partial[0] + partial[2]) + (partial[1] + partial[3]);
    for (x, y) in tail_a.iter().zip(tail_b) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_naive_sum_at_every_length() {
        for len in 0..40 {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3, "len {len}");
        }
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] → x = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        assert!(cholesky(&mut a, 2));
        let mut b = vec![2.0, 1.0];
        cholesky_solve(&a, 2, &mut b);
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut not_definite = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut not_definite, 2));
    }

    #[test]
    fn both_symmetric_products_match_the_naive_one() {
        let m = [2.0, 1.0, 0.5, 1.0, 3.0, -1.0, 0.5, -1.0, 4.0];
        let v = [1.0, -2.0, 0.5];
        let naive: Vec<f32> = m
            .chunks(3)
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        let mut out = [0.0; 3];
        symmetric_matvec(&m, &v, &mut out);
        assert_eq!(out.to_vec(), naive);
        let mut fixed = [0.0; 3];
        symmetric_matvec_fixed::<3>(&m, &v, &mut fixed);
        assert_eq!(fixed.to_vec(), naive);
    }

    #[test]
    fn gram_is_the_sum_of_outer_products() {
        let rows = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let g = gram(&rows, 2);
        assert_eq!(g, vec![35.0, 44.0, 44.0, 56.0]);
    }
}
