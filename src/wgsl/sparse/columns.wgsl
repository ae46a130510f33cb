// Deterministic per-column (per-channel) sums over the rows of an
// [rows, cols] row-major f32 matrix: the bias gradient of the sparse linear
// layer, and any other column sum of the sparse family. Two dispatches
// whatever the size: partial sums per chunk of rows, then one merge.
// The reduction shapes (chunks, lanes, trees) are described in
// common/column-chunks.wgsl. No atomics.
//
// Buffers:
//   src      f32[rows, cols]     values to reduce
//   partial  f32[chunks, cols]   one partial per (chunk, column): col_sum_partial writes, col_sum_merge reads
//   dst      f32[cols]           Σ_r src[r, c] (col_sum_merge)
// Grids: col_sum_partial one workgroup per (column tile, chunk) (see the
// include); col_sum_merge ceil(cols / MERGE_CW) workgroups.

struct Params {
  rows: u32,
  cols: u32,
  col_tiles: u32,
  chunks: u32,
  // rows each lane adds serially per chunk
  items: u32,
}

// Columns per workgroup of the chunk pass: 64, 16 or 4, chosen by the host
// from cols so that narrow matrices do not idle most threads.
override CW: u32 = 64u;
const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read> partial_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// #include "common/column-chunks"

// Σ_r src[r, c] over one chunk.
@compute @workgroup_size(WG)
fn col_sum_partial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let s = chunk_slot(lid, wid, nwg, params.col_tiles, params.chunks, params.cols, params.items);
  var acc = 0.0;
  if (s.valid) {
    for (var k = 0u; k < params.items; k++) {
      let r = chunk_row(s, k);
      if (r < params.rows) { acc += src[r * params.cols + s.col]; }
    }
  }
  let total = chunk_total(lid, s.lane, acc);
  if (s.lane == 0u && s.valid) { partial[s.chunk * params.cols + s.col] = total; }
}

// Σ over chunks of partial_in [chunks, cols].
@compute @workgroup_size(WG)
fn col_sum_merge(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let s = merge_slot(lid, wid);
  var acc = 0.0;
  if (s.col < params.cols) {
    for (var k = s.lane; k < params.chunks; k += MERGE_LANES) { acc += partial_in[k * params.cols + s.col]; }
  }
  let total = merge_total(lid, s.lane, acc);
  if (s.lane == 0u && s.col < params.cols) { dst[s.col] = total; }
}
