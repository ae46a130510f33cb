// Fixed-shape column reductions over the rows of a row-major [rows, cols]
// f32 matrix, shared by sparse/columns.wgsl (column sums) and
// sparse/norm.wgsl (BatchNorm moments and gradient sums); pulled in with
//     // #include "common/column-chunks"
//
// The including file declares `const WG: u32 = 256u` and `override CW: u32`
// (columns per workgroup of the chunk pass: 4, 16 or 64, dividing WG).
//
// Chunk pass: a workgroup owns CW consecutive columns and a chunk of
// LANES · items consecutive rows (LANES = WG / CW). Lane l visits rows
// l, l + LANES, …, l + (items − 1)·LANES of the chunk serially; the LANES
// partials of a column are then added by a fixed binary tree. Merge pass:
// one workgroup per MERGE_CW columns, MERGE_LANES lanes; lane l visits
// chunks l, l + MERGE_LANES, … serially, then a fixed tree. Every addition's
// order depends only on (rows, cols, CW, items), so results are bitwise
// reproducible, and the host keeps the number of chunks ≤ 1024 by raising
// `items`, so a reduction is always two dispatches.
//
// Coalescing: the CW threads of one lane read CW consecutive columns of one
// row; neighbouring lanes read neighbouring rows.
//
// Grid of a chunk pass: one workgroup per (column tile, chunk), linear id
//   g = wid.x + wid.y * nwg.x, tile = g % col_tiles, chunk = g / col_tiles
// (folded into y beyond the x limit; surplus workgroups write nothing).
// Grid of a merge pass: ceil(cols / MERGE_CW) workgroups in x.

const MERGE_CW: u32 = 16u;
const MERGE_LANES: u32 = 16u;

var<workgroup> chunk_scratch: array<f32, WG>;

struct ChunkSlot {
  col: u32,
  lane: u32,
  chunk: u32,
  // first row of the chunk and rows per chunk
  row0: u32,
  chunk_rows: u32,
  valid: bool,
}

fn chunk_slot(lid: u32, wid: vec3<u32>, nwg: vec3<u32>, col_tiles: u32, chunks: u32, cols: u32, items: u32) -> ChunkSlot {
  let g = wid.x + wid.y * nwg.x;
  let tile = g % col_tiles;
  let chunk = g / col_tiles;
  var s: ChunkSlot;
  s.col = tile * CW + lid % CW;
  s.lane = lid / CW;
  s.chunk = chunk;
  s.chunk_rows = (WG / CW) * items;
  s.row0 = chunk * s.chunk_rows;
  s.valid = chunk < chunks && s.col < cols;
  return s;
}

// Row k (0 ≤ k < items) of this lane.
fn chunk_row(s: ChunkSlot, k: u32) -> u32 {
  return s.row0 + k * (WG / CW) + s.lane;
}

// Adds the LANES partials of each column by a fixed tree; every thread of
// the column gets the chunk's total. Call from uniform control flow.
fn chunk_total(lid: u32, lane: u32, v: f32) -> f32 {
  workgroupBarrier();
  chunk_scratch[lid] = v;
  workgroupBarrier();
  for (var stride = (WG / CW) / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) { chunk_scratch[lid] += chunk_scratch[lid + stride * CW]; }
    workgroupBarrier();
  }
  return chunk_scratch[lid % CW];
}

struct MergeSlot {
  col: u32,
  lane: u32,
}

fn merge_slot(lid: u32, wid: vec3<u32>) -> MergeSlot {
  return MergeSlot(wid.x * MERGE_CW + lid % MERGE_CW, lid / MERGE_CW);
}

// The fixed tree over the MERGE_LANES lanes of a merge pass (sums); the
// total is valid in lane 0. Call from uniform control flow.
fn merge_total(lid: u32, lane: u32, v: f32) -> f32 {
  workgroupBarrier();
  chunk_scratch[lid] = v;
  workgroupBarrier();
  for (var stride = MERGE_LANES / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) { chunk_scratch[lid] += chunk_scratch[lid + stride * MERGE_CW]; }
    workgroupBarrier();
  }
  return chunk_scratch[lid % MERGE_CW];
}
