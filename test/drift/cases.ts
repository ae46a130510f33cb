/**
 * Value tables of the drift family, shared by the float64 reference tests and
 * the GPU tests (not a test file itself). Sources are given per table.
 */

/*
 * Expected R values computed independently (Python, float64) from larnd-sim's
 * published formulas (larndsim/quenching.py):
 *   Box:   ξ = β·dEdx/(E·ρ), R = max(0, ln(α + ξ)/ξ)   (Baller / ArgoNeuT JINST 8 P08005)
 *   Birks: R = A / (1 + k·dEdx/(E·ρ))                  (Amoruso et al., NIM A 523 (2004) 275)
 * with larnd-sim constants (consts/physics.py, consts/detector.py): α = 0.93,
 * β = 0.207, A = 0.800, k = 0.0486, E = 0.5 kV/cm, ρ = 1.38 g/cm³; the ArgoNeuT
 * column uses β = 0.212. EMB (ICARUS arXiv:2407.12969): α = 0.904,
 * β₉₀ = 0.204, R = 1.25, β(φ) = β₉₀/√(sin²φ + cos²φ/R²), at cos²φ = 0, 1, 0.5.
 */
export const RECOMBINATION_TABLE: readonly {
  dEdx: number;
  box: number;
  boxArgoneut: number;
  birks: number;
  emb0: number;
  emb1: number;
  embHalf: number;
}[] = [
  { dEdx: 1.5, box: 0.7157411092646964, boxArgoneut: 0.7158839787492803, birks: 0.7235548564687379, emb0: 0.6724904398937527, emb1: 0.6806271283565949, embHalf: 0.6778918892458994 },
  { dEdx: 2.1, box: 0.7058505099388027, boxArgoneut: 0.7042483589279133, birks: 0.6969169002348307, emb0: 0.6795451074311776, emb1: 0.6685404870549561, embHalf: 0.6760220752835883 },
  { dEdx: 5.0, box: 0.591927504901638, boxArgoneut: 0.5876010270022635, birks: 0.5916398713826367, emb0: 0.5872102819184839, emb1: 0.5478138500549294, embHalf: 0.5701630337282361 },
  { dEdx: 10.0, box: 0.4562131419603899, boxArgoneut: 0.4513999897824362, birks: 0.46938775510204084, emb0: 0.45688902673782583, emb1: 0.4129124209905461, embHalf: 0.4372709364372732 },
  { dEdx: 30.0, box: 0.2550622753396757, boxArgoneut: 0.25139614686977146, birks: 0.2569832402234637, emb0: 0.2570228932753741, emb1: 0.22406083559649562, embHalf: 0.24197861581222896 },
];

/*
 * Computed independently (Python) from μ = (a0 + a1E + a2E^1.5 + a3E^2.5) /
 * (1 + (a1/a0)E + a4E² + a5E³) · (T/89)^-1.5, (a0..a5) = (551.6, 7158.3,
 * 4440.43, 4.29, 43.63, 0.2053) — larnd-sim consts/detector.py
 * ELECTRON_MOBILITY_PARAMS, from lar.bnl.gov and Li et al. NIM A 816 (2016) 160 —
 * and v = μE (cm/µs).
 */
/** (E kV/cm, T K, v cm/µs). */
export const VELOCITY_TABLE: readonly (readonly [number, number, number])[] = [
  [0.5, 87.17, 0.1596452482154287],
  [0.25, 87.17, 0.10710739889211608],
  [1.0, 87.17, 0.21689674523953897],
  [0.5, 89.0, 0.15474675667955068],
  [0.75, 88.0, 0.18997565247066356],
];

/*
 * Python, float64, larnd-sim drifting.drift: t_d = d/v, n·exp(−t_d/τ),
 * σ = √(2 D t_d) with τ = 2200 µs, D_L = 4.0e-6, D_T = 8.8e-6 cm²/µs
 * (2x2.yaml), v = 0.1596452482154287 cm/µs. Columns: d (cm), t_d (µs),
 * exp(−t_d/τ), σ_T (cm), σ_L (cm), σ_L/v (µs).
 */
/** Rows [d, t_d, attenuation, σ_T, σ_L, σ_L/v] at the 2x2 defaults. */
export const DRIFT_TABLE: readonly (readonly number[])[] = [
  [1.0, 6.263888284670889, 0.9971568275446523, 0.01049973493999766, 0.007078919852446919, 0.044341563131866435],
  [10.0, 62.638882846708896, 0.9719292944764016, 0.03320307723844398, 0.022385510107515334, 0.14022033450884708],
  [30.27225, 189.62199212562834, 0.9174182401267501, 0.05776977636628914, 0.038948375280684386, 0.2439682716276442],
];
