// Sparse pooling over a kernel map (max and average, usually the 2×2(×2),
// stride-2 strided map) and global average pooling per batch item, forward
// and backward side by side.
//
// Every output element is computed by one invocation that gathers its
// inputs in a fixed order (offsets k = 0..V−1, or rows of a batch item in a
// fixed piece/lane order), so no atomics are needed and results are bitwise
// reproducible. Backward passes gather too: the input-stationary table lists,
// per input row, the output rows it feeds, so no scatter is needed.
//
// Buffers (row-major):
//   x          f32[num_in, cols]   input features
//   out_map    i32[num_out, V]     output-stationary table: input row per (output, offset), −1 = none
//   in_map     i32[num_in, V]      input-stationary table: output row per (input, offset), −1 = none
//   y          f32[num_out, cols]  pooled features
//   argmax     i32[num_out, cols]  input row that won the max (−1: the output has no input)
//   divisor    f32[num_out]        average-pooling divisor (0: no input, output 0)
//   g          f32[num_out, cols]  upstream gradient
//   dx         f32[num_in, cols]   input gradient
//   order      i32[num_in]         rows grouped by batch item, ascending row index within an item
//   piece_start i32[pieces + 1]    piece p covers order[piece_start[p] .. piece_start[p+1])
//   item_pieces i32[items + 1]     batch item b owns pieces item_pieces[b] .. item_pieces[b+1]
//   partial    f32[pieces, cols]   per-piece column sums
//   coords     i32[num_in, coord_cols]  sparse coordinates; column 0 is the batch index
// Grids: elementwise kernels one invocation per output element
// (i = gid.x + gid.y * nwg.x * WG, row i / cols, channel i % cols);
// avg_pool_divisor one invocation per output row; gap_piece_sum one workgroup
// per (column tile, piece), linear id g = wid.x + wid.y * nwg.x.

struct Params {
  num_in: u32,
  num_out: u32,
  cols: u32,
  volume: u32,
  // avg_pool_divisor: 0 = number of active inputs, 1 = kernel volume
  divisor_mode: u32,
  // gap_piece_sum: number of pieces and column tiles; gap_backward: coords columns
  pieces: u32,
  col_tiles: u32,
  coord_cols: u32,
}

override WG: u32 = 256;
// Columns per workgroup in gap_piece_sum (64, 16 or 4; divides GAP_WG).
override CW: u32 = 64u;
const GAP_WG: u32 = 256u;
const NONE: i32 = -1;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> out_map: array<i32>;
@group(0) @binding(2) var<storage, read> in_map: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(5) var<storage, read_write> divisor: array<f32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read> order: array<i32>;
@group(0) @binding(9) var<storage, read> piece_start: array<i32>;
@group(0) @binding(10) var<storage, read> item_pieces: array<i32>;
@group(0) @binding(11) var<storage, read_write> partial: array<f32>;
@group(0) @binding(12) var<storage, read> coords: array<i32>;
@group(0) @binding(13) var<uniform> params: Params;

var<workgroup> scratch: array<f32, GAP_WG>;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ------------------------------------------------------------ max pooling

// Max over the present inputs. Strict '>' keeps the first value seen, and
// equal values go to the lowest input row (explicitly, since offsets do not
// visit rows in row order). A NaN input never wins unless it is the first.
@compute @workgroup_size(WG)
fn max_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_out * params.cols) { return; }
  let o = e / params.cols;
  let c = e % params.cols;
  var best = NONE;
  var best_v = 0.0;
  for (var k = 0u; k < params.volume; k++) {
    let i = out_map[o * params.volume + k];
    if (i < 0) { continue; }
    let v = x[u32(i) * params.cols + c];
    if (best < 0 || v > best_v || (v == best_v && i < best)) {
      best = i;
      best_v = v;
    }
  }
  y[e] = best_v;
  argmax[e] = best;
}

// dx[i, c] = Σ over outputs o fed by i (offset order) with argmax[o, c] = i of g[o, c].
@compute @workgroup_size(WG)
fn max_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_in * params.cols) { return; }
  let i = i32(e / params.cols);
  let c = e % params.cols;
  var acc = 0.0;
  for (var k = 0u; k < params.volume; k++) {
    let o = in_map[u32(i) * params.volume + k];
    if (o < 0) { continue; }
    let j = u32(o) * params.cols + c;
    if (argmax[j] == i) { acc += g[j]; }
  }
  dx[e] = acc;
}

// -------------------------------------------------------- average pooling

@compute @workgroup_size(WG)
fn avg_pool_divisor(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = element(gid, nwg);
  if (o >= params.num_out) { return; }
  var count = 0u;
  for (var k = 0u; k < params.volume; k++) {
    if (out_map[o * params.volume + k] >= 0) { count++; }
  }
  if (params.divisor_mode == 1u) {
    // Absent sites count as zeros; an output with no input stays 0 either way.
    divisor[o] = select(0.0, f32(params.volume), count > 0u);
  } else {
    divisor[o] = f32(count);
  }
}

// Sum in offset order, then one division (as the float64 reference).
@compute @workgroup_size(WG)
fn avg_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_out * params.cols) { return; }
  let o = e / params.cols;
  let c = e % params.cols;
  var acc = 0.0;
  for (var k = 0u; k < params.volume; k++) {
    let i = out_map[o * params.volume + k];
    if (i >= 0) { acc += x[u32(i) * params.cols + c]; }
  }
  let d = divisor[o];
  y[e] = select(0.0, acc / d, d > 0.0);
}

// dx[i, c] = Σ over outputs o fed by i of g[o, c] / divisor[o].
@compute @workgroup_size(WG)
fn avg_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_in * params.cols) { return; }
  let i = e / params.cols;
  let c = e % params.cols;
  var acc = 0.0;
  for (var k = 0u; k < params.volume; k++) {
    let o = in_map[i * params.volume + k];
    if (o >= 0) { acc += g[u32(o) * params.cols + c] / divisor[u32(o)]; }
  }
  dx[e] = acc;
}

// ------------------------------------------------ global average pooling

// Column sums of one piece (≤ a fixed number of rows of one batch item, in
// `order`). Lanes stride through the piece, then a fixed tree combines them.
@compute @workgroup_size(GAP_WG)
fn gap_piece_sum(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let lin = wid.x + wid.y * nwg.x;
  let tile = lin % params.col_tiles;
  let p = lin / params.col_tiles;
  let lanes = GAP_WG / CW;
  let lane = lid / CW;
  let c = tile * CW + lid % CW;
  let valid = p < params.pieces && c < params.cols;
  var acc = 0.0;
  if (valid) {
    let start = u32(piece_start[p]);
    let end = u32(piece_start[p + 1u]);
    for (var j = start + lane; j < end; j += lanes) {
      acc += x[u32(order[j]) * params.cols + c];
    }
  }
  scratch[lid] = acc;
  workgroupBarrier();
  for (var stride = lanes / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) { scratch[lid] += scratch[lid + stride * CW]; }
    workgroupBarrier();
  }
  if (lane == 0u && valid) { partial[p * params.cols + c] = scratch[lid]; }
}

// y[b, c] = (Σ of item b's piece sums, in piece order) / count_b; 0 for an empty item.
@compute @workgroup_size(WG)
fn gap_item_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_out * params.cols) { return; }
  let b = e / params.cols;
  let c = e % params.cols;
  let p0 = u32(item_pieces[b]);
  let p1 = u32(item_pieces[b + 1u]);
  var acc = 0.0;
  for (var p = p0; p < p1; p++) { acc += partial[p * params.cols + c]; }
  let count = piece_start[p1] - piece_start[p0];
  y[e] = select(0.0, acc / f32(count), count > 0);
}

// dx[r, c] = g[batch(r), c] / count_batch(r).
@compute @workgroup_size(WG)
fn gap_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = element(gid, nwg);
  if (e >= params.num_in * params.cols) { return; }
  let r = e / params.cols;
  let c = e % params.cols;
  let b = u32(coords[r * params.coord_cols]);
  let count = piece_start[u32(item_pieces[b + 1u])] - piece_start[u32(item_pieces[b])];
  dx[e] = g[b * params.cols + c] / f32(count);
}
