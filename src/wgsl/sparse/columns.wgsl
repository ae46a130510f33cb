// Deterministic per-column (per-channel) reductions over the rows of an
// [rows, cols] row-major f32 matrix: the sums behind sparse BatchNorm
// statistics, BatchNorm's gamma/beta gradients and the bias gradient of the
// sparse linear layer.
//
// No atomics. A workgroup owns a tile of CW consecutive columns and a chunk
// of LANES * ITEMS consecutive rows (LANES = WG / CW row lanes). Lane l adds
// rows l, l + LANES, l + 2·LANES, ... of its chunk serially, then the LANES
// partials are combined by a fixed binary tree in workgroup memory. The host
// repeats `col_sum_partial` on the [chunks, cols] partials until one row is
// left. The order of every addition depends only on (rows, cols, CW), so the
// result is bitwise reproducible.
//
// Coalescing: the CW threads of one lane read CW consecutive columns of one
// row; neighbouring lanes read neighbouring rows.
//
// Buffers:
//   src    f32[rows, cols]   values to reduce (x for the BatchNorm passes)
//   grad   f32[rows, cols]   upstream gradient g (col_gxhat_partial only)
//   sums   f32[cols]         Σ_r x[r, c] (col_centered_sq_partial only; mean = sums / params.count)
//   stats  f32[3, cols]      row 0 shift (mean), row 1 scale (1/std), row 2 unused here
//   dst    f32[chunks, cols] one partial per (chunk, column), written by lane 0
// Grid: one workgroup per (column tile, row chunk), linear id
//   g = wid.x + wid.y * nwg.x, tile = g % params.col_tiles, chunk = g / params.col_tiles
//   (folded into y beyond the x limit; surplus workgroups write nothing).

struct Params {
  rows: u32,
  cols: u32,
  col_tiles: u32,
  chunks: u32,
  // N used for the mean in col_centered_sq_partial (the original row count)
  count: u32,
}

// Columns per workgroup: 64, 16 or 4, chosen by the host from cols so that
// narrow matrices do not idle most threads. Must divide WG.
override CW: u32 = 64u;
const WG: u32 = 256u;
// Rows each lane adds serially per chunk; amortises the tree's barriers.
const ITEMS: u32 = 16u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> sums: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

struct Slot {
  col: u32,
  lane: u32,
  chunk: u32,
  // first row of this lane's chunk
  row0: u32,
  valid: bool,
}

fn slot_of(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) -> Slot {
  let g = wid.x + wid.y * nwg.x;
  let tile = g % params.col_tiles;
  let chunk = g / params.col_tiles;
  let lanes = WG / CW;
  var s: Slot;
  s.col = tile * CW + lid % CW;
  s.lane = lid / CW;
  s.chunk = chunk;
  s.row0 = chunk * lanes * ITEMS;
  s.valid = chunk < params.chunks && s.col < params.cols;
  return s;
}

// Combines the LANES partials of each column by a fixed tree and writes the
// chunk's partial. Called from uniform control flow (it has barriers).
fn combine_and_store(lid: u32, s: Slot, acc: f32) {
  scratch[lid] = acc;
  workgroupBarrier();
  for (var stride = (WG / CW) / 2u; stride > 0u; stride = stride / 2u) {
    if (s.lane < stride) { scratch[lid] += scratch[lid + stride * CW]; }
    workgroupBarrier();
  }
  if (s.lane == 0u && s.valid) { dst[s.chunk * params.cols + s.col] = scratch[lid]; }
}

// Σ_r src[r, c] over one chunk.
@compute @workgroup_size(WG)
fn col_sum_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = slot_of(lid, wid, nwg);
  let lanes = WG / CW;
  var acc = 0.0;
  if (s.valid) {
    for (var k = 0u; k < ITEMS; k++) {
      let r = s.row0 + k * lanes + s.lane;
      if (r < params.rows) { acc += src[r * params.cols + s.col]; }
    }
  }
  combine_and_store(lid, s, acc);
}

// Σ_r (src[r, c] − mean_c)² with mean_c = sums[c] / count: the second pass of
// a two-pass variance, which avoids the cancellation of E[x²] − E[x]².
@compute @workgroup_size(WG)
fn col_centered_sq_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = slot_of(lid, wid, nwg);
  let lanes = WG / CW;
  var acc = 0.0;
  if (s.valid) {
    let mean = sums[s.col] / f32(params.count);
    for (var k = 0u; k < ITEMS; k++) {
      let r = s.row0 + k * lanes + s.lane;
      if (r < params.rows) {
        let d = src[r * params.cols + s.col] - mean;
        acc += d * d;
      }
    }
  }
  combine_and_store(lid, s, acc);
}

// Σ_r grad[r, c] · (src[r, c] − stats[0, c]) · stats[1, c]: BatchNorm's
// Σ g·x̂ (the gamma gradient and a term of the input gradient).
@compute @workgroup_size(WG)
fn col_gxhat_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = slot_of(lid, wid, nwg);
  let lanes = WG / CW;
  var acc = 0.0;
  if (s.valid) {
    let shift = stats[s.col];
    let scale = stats[params.cols + s.col];
    for (var k = 0u; k < ITEMS; k++) {
      let r = s.row0 + k * lanes + s.lane;
      if (r < params.rows) {
        let i = r * params.cols + s.col;
        acc += grad[i] * ((src[i] - shift) * scale);
      }
    }
  }
  combine_and_store(lid, s, acc);
}
