// Deterministic building blocks of the drift family: exclusive prefix scan
// of u32 counts, a stable merge sort of pre-sorted runs of (hi, lo) u32 keys
// with payloads, and column sums of a row-major f32 matrix. No float atomics
// anywhere: the scan is of integers (exact in any order), the sort produces
// the unique stable order (ties keep input order), and the column sums add in
// an order fixed by the shape alone.
//
// Buffers:
//   scan_src   u32[n]                 counts to scan (read)
//   scan_dst   u32[n]                 exclusive prefix sums within each TILE (scan_tiles), then
//                                     global after scan_add; scan_finish writes scan_dst[n] = total
//   scan_sums  u32[ceil(n/TILE)]      per-tile totals (scan_tiles output)
//   scan_off   u32[ceil(n/TILE) + 1]  exclusive scan of scan_sums (scan_add input)
//   src_hi, src_lo, src_idx, src_run  u32[C]  merge input: keys, payload, and the *unit* of
//                                     each element (its initial sorted run: units
//                                     [run_start[u], run_start[u+1]) are each sorted)
//   dst_hi, dst_lo, dst_idx, dst_run   u32[C]  merge output (ping-pong with src)
//   run_start  u32[units + 1]         element offset of each unit (exclusive scan of unit sizes)
//   mat        f32[rows · cols]       row-major matrix to reduce by columns (read)
//   col_out    f32[tiles · cols]      partial column sums, row-major: one row per tile of rows
// Grids: scan_tiles one workgroup per TILE elements; scan_add/merge_pass one
// invocation per element (1-D folded into y); colsum_tiles workgroups (tiles, cols) in (x, y).

struct ScanParams {
  n: u32,
}

struct MergeParams {
  c: u32,
  units: u32,
  // pass p merges pairs of runs of 2^p units into runs of 2^(p+1) units
  level: u32,
}

struct ColParams {
  rows: u32,
  cols: u32,
}

override WG: u32 = 256;
// Rows each thread adds serially before the tree (as core/reduce.wgsl).
const ITEMS: u32 = 8u;

@group(0) @binding(0) var<storage, read> scan_src: array<u32>;
@group(0) @binding(1) var<storage, read_write> scan_dst: array<u32>;
@group(0) @binding(2) var<storage, read_write> scan_sums: array<u32>;
@group(0) @binding(3) var<storage, read> scan_off: array<u32>;
@group(0) @binding(4) var<uniform> scan_params: ScanParams;
@group(0) @binding(9) var<storage, read> mat: array<f32>;
@group(0) @binding(10) var<storage, read_write> col_out: array<f32>;
@group(0) @binding(11) var<uniform> col_params: ColParams;
@group(0) @binding(12) var<storage, read> src_hi: array<u32>;
@group(0) @binding(13) var<storage, read> src_lo: array<u32>;
@group(0) @binding(14) var<storage, read> src_idx: array<u32>;
@group(0) @binding(15) var<storage, read> src_run: array<u32>;
@group(0) @binding(16) var<storage, read_write> dst_hi: array<u32>;
@group(0) @binding(17) var<storage, read_write> dst_lo: array<u32>;
@group(0) @binding(18) var<storage, read_write> dst_idx: array<u32>;
@group(0) @binding(19) var<storage, read_write> dst_run: array<u32>;
@group(0) @binding(20) var<storage, read> run_start: array<u32>;
@group(0) @binding(21) var<uniform> merge_params: MergeParams;

var<workgroup> wsum: array<u32, WG>;
var<workgroup> wf: array<f32, WG>;

@compute @workgroup_size(WG)
fn scan_tiles(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let tile = wid.x + wid.y * nwg.x;
  let i = tile * WG + lid.x;
  var v = 0u;
  if (i < scan_params.n) { v = scan_src[i]; }
  wsum[lid.x] = v;
  workgroupBarrier();
  // Hillis–Steele inclusive scan in workgroup memory.
  for (var off = 1u; off < WG; off = off * 2u) {
    var add = 0u;
    if (lid.x >= off) { add = wsum[lid.x - off]; }
    workgroupBarrier();
    wsum[lid.x] += add;
    workgroupBarrier();
  }
  if (i < scan_params.n) { scan_dst[i] = wsum[lid.x] - v; }
  // Folded grids may launch a few workgroups past the last tile; scan_sums
  // has exactly ceil(n / WG) entries (its binding may be longer: pooled buffers).
  if (lid.x == WG - 1u && tile * WG < scan_params.n) { scan_sums[tile] = wsum[lid.x]; }
}

@compute @workgroup_size(WG)
fn scan_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < scan_params.n) { scan_dst[i] += scan_off[i / WG]; }
}

@compute @workgroup_size(1)
fn scan_finish() {
  let n = scan_params.n;
  if (n == 0u) { scan_dst[0] = 0u; return; }
  scan_dst[n] = scan_dst[n - 1u] + scan_src[n - 1u];
}

// (hi, lo) at position i of the merge input is < (h, l) (strict) or ≤ (h, l).
fn src_before(i: u32, h: u32, l: u32, or_equal: bool) -> bool {
  let a = src_hi[i];
  if (a != h) { return a < h; }
  let b = src_lo[i];
  return b < l || (or_equal && b == l);
}

// First position in [lo, hi) whose key is not before (h, l).
fn src_search(lo_in: u32, hi_in: u32, h: u32, l: u32, or_equal: bool) -> u32 {
  var lo = lo_in;
  var hi = hi_in;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (src_before(mid, h, l, or_equal)) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

// One pass of a bottom-up merge sort whose initial runs are the units (each
// already sorted). Every element finds its output position by rank: its index
// in its own run plus the number of partner-run elements ordered before it —
// strictly smaller keys for a left-run element, smaller-or-equal for a
// right-run element, so that equal keys keep input order (stable).
@compute @workgroup_size(WG)
fn merge_pass(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= merge_params.c) { return; }
  let units = merge_params.units;
  let level = merge_params.level;
  let run = src_run[e] >> level;
  let base = (run >> 1u) << (level + 1u);
  let start = run_start[min(base, units)];
  let mid = run_start[min(base + (1u << level), units)];
  let end = run_start[min(base + (2u << level), units)];
  let h = src_hi[e];
  let l = src_lo[e];
  var pos: u32;
  if ((run & 1u) == 0u) {
    pos = e + (src_search(mid, end, h, l, false) - mid);
  } else {
    pos = start + (e - mid) + (src_search(start, mid, h, l, true) - start);
  }
  dst_hi[pos] = h;
  dst_lo[pos] = l;
  dst_idx[pos] = src_idx[e];
  dst_run[pos] = src_run[e];
}

@compute @workgroup_size(WG)
fn colsum_tiles(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  let tile = wid.x;
  let col = wid.y;
  let cols = col_params.cols;
  let base = tile * WG * ITEMS;
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let r = base + k * WG + lid.x;
    if (r < col_params.rows) { acc += mat[r * cols + col]; }
  }
  wf[lid.x] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid.x < stride) { wf[lid.x] += wf[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { col_out[tile * cols + col] = wf[0]; }
}
