/**
 * Float64 reference of `matmul`.
 *
 * @module
 */
import type { HostTensor, ReferenceOp } from '../../autodiff/gradcheck.js';

/** C = A·B for A [M, K], B [K, N], in float64. */
export function matmulF64(a: Float64Array, b: Float64Array, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < N; j++) c[i * N + j]! += aik * b[k * N + j]!;
    }
  }
  return c;
}

/** Transpose of a [R, C] matrix. */
export function transposeF64(a: Float64Array, R: number, C: number): Float64Array {
  const t = new Float64Array(R * C);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) t[j * R + i] = a[i * C + j]!;
  return t;
}

export const matmulReference: ReferenceOp<null> = {
  forward([a, b]): HostTensor {
    const [M, K] = a!.shape as [number, number];
    const N = b!.shape[1]!;
    return { shape: [M, N], data: matmulF64(a!.data, b!.data, M, K, N) };
  },
  backward([a, b], g) {
    const [M, K] = a!.shape as [number, number];
    const N = b!.shape[1]!;
    return [
      matmulF64(g.data, transposeF64(b!.data, K, N), M, N, K),
      matmulF64(transposeF64(a!.data, M, K), g.data, K, M, N),
    ];
  },
};
