/**
 * Customer-value models for non-contractual repeat buying, as pure numeric functions:
 *
 * - BG/NBD — Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An Alternative to
 *   the Pareto/NBD Model", Marketing Science 24(2), 275–284. How many purchases, and whether the
 *   customer is still "alive".
 * - Gamma-Gamma — Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
 *   Analysis", Journal of Marketing Research 42(4); Fader & Hardie (2013), "The Gamma-Gamma Model of
 *   Monetary Value", http://www.brucehardie.com/notes/025/. How much each purchase is worth.
 *
 * Both are fitted by maximum likelihood with a deterministic Nelder–Mead search on log-parameters,
 * so the same rows always give the same estimates. Time is in whatever unit the caller uses
 * (weeks, days); `alpha` comes back in that unit and every prediction must use the same one.
 */

// Jest runs modules inside a vm context, where every lookup of a global such as Math or Number
// goes through an interceptor and costs ~100× a local one; module-level aliases keep the
// likelihood loops as fast under test as in production.
const { abs, exp, floor, log, log1p, max, pow, round, sin, sqrt, PI } = Math;
const { EPSILON, isFinite: isFiniteNumber, isInteger, isNaN: isNaNumber } = Number;

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

// Lanczos approximation with g = 7, n = 9 (the coefficients popularised by Numerical Recipes and
// Boost): relative error of Γ about 1e-15 for real arguments ≥ 0.5, i.e. absolute error of ln Γ
// about 1e-15, which is below what the likelihoods can resolve.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * log(2 * PI);

/** sin(πx) with the argument reduced first, so poles and zeros of Γ land where they should for large |x|. */
function sinPi(x: number): number {
  const r = x - 2 * round(x / 2); // r ∈ [-1, 1]
  return sin(PI * r);
}

function isNonPositiveInteger(x: number): boolean {
  return x <= 0 && isInteger(x);
}

/**
 * ln |Γ(x)| by the Lanczos approximation (reflection formula below 0.5).
 * Returns `Infinity` at the poles (0, −1, −2, …) and `NaN` for `NaN`.
 */
export function lgamma(x: number): number {
  if (isNaNumber(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (isNonPositiveInteger(x)) return Infinity;
  if (x < 0.5) {
    // Γ(x) Γ(1−x) = π / sin(πx); the Lanczos sum is only accurate for arguments ≥ 0.5.
    return log(PI / abs(sinPi(x))) - lgamma(1 - x);
  }
  const y = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) s += LANCZOS[i] / (y + i);
  const t = y + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (y + 0.5) * log(t) - t + log(s);
}

/** Sign of Γ(x) for real x that is not a pole: negative on (−1, 0), (−3, −2), … */
function gammaSign(x: number): number {
  if (x > 0 || isNonPositiveInteger(x)) return 1;
  return floor(x) % 2 === 0 ? 1 : -1;
}

/**
 * Π Γ(num) / Π Γ(den), computed in logs so large arguments don't overflow. A pole in the
 * denominator makes the ratio 0 (1/Γ is entire), which the 1−z connection formula relies on.
 */
function gammaRatio(num: readonly number[], den: readonly number[]): number {
  let logSum = 0;
  let sign = 1;
  for (const d of den) {
    if (isNonPositiveInteger(d)) return 0;
    logSum -= lgamma(d);
    sign *= gammaSign(d);
  }
  for (const n of num) {
    if (isNonPositiveInteger(n)) return NaN; // the callers exclude this; NaN makes a slip visible
    logSum += lgamma(n);
    sign *= gammaSign(n);
  }
  return sign * exp(logSum);
}

// Past this z the direct series needs hundreds of terms or more, so the 1−z connection formula
// is tried first (its series then run in 1−z < 0.1 and converge in a few dozen terms).
const SERIES_MAX_Z = 0.9;
// The connection formula's gamma coefficients grow like 1/d, where d is the distance of c−a−b from
// the nearest integer; within 1e-4 of one, the direct series is summed instead.
const NEAR_INTEGER = 1e-4;
// If the connection formula's terms are this many times larger than their sum, it has lost ~2
// digits to cancellation (this happens with large parameters and moderate 1−z), and the direct
// series — cheap exactly when 1−z is not tiny — is summed instead.
const CANCELLATION_LIMIT = 1e2;
// Enough for the direct series down to 1 − z ≈ 4e-6 in the worst (logarithmic) case.
const MAX_TERMS = 10_000_000;

interface SeriesSum {
  sum: number;
  /** Σ |terms|: how much cancellation the sum went through. */
  magnitude: number;
}

/**
 * The Gauss series Σ (a)ₙ(b)ₙ/((c)ₙ n!) zⁿ, stopped when a bound on the whole remaining tail drops
 * below one ulp of the partial sum.
 *
 * Why the bound holds: the term ratio is z·f(n) with f(n) = (n+a)(n+b)/((n+c)(n+1)) → 1. Once n is
 * past every sign change of the factors and past the last turning point of f, f is monotone, so
 * every later ratio is at most q = max(|ratio now|, |z|) and the tail is at most |term|·q/(1−q).
 */
function gaussSeries(a: number, b: number, c: number, z: number): SeriesSum {
  // f(n) − 1 = (αn + β)/((n+c)(n+1)); its derivative vanishes where αn² + 2βn + β(c+1) − αc = 0.
  const alpha = a + b - c - 1;
  const beta = a * b - c;
  let turning = 0;
  if (alpha !== 0) {
    const disc = beta * beta - alpha * (beta * (c + 1) - alpha * c);
    if (disc >= 0) turning = max((-beta + sqrt(disc)) / alpha, (-beta - sqrt(disc)) / alpha);
  } else if (beta !== 0) {
    turning = -(c + 1) / 2;
  }
  const trustFrom = max(0, -a, -b, -c, turning);

  let term = 1;
  let sum = 1;
  let magnitude = 1;
  for (let n = 0; n < MAX_TERMS; n++) {
    const ratio = (((a + n) * (b + n)) / ((c + n) * (n + 1))) * z;
    term *= ratio;
    sum += term;
    magnitude += abs(term);
    if (term === 0) return { sum, magnitude }; // a or b is a non-positive integer: a finished polynomial
    if (n >= trustFrom) {
      const q = max(abs(ratio), abs(z));
      if (q < 1 && (abs(term) * q) / (1 - q) <= EPSILON * abs(sum)) return { sum, magnitude };
    }
  }
  throw new Error(`hyp2f1(${a}, ${b}, ${c}, ${z}): series did not converge in ${MAX_TERMS} terms`);
}

/**
 * The Gaussian hypergeometric function ₂F₁(a, b; c; z) for real arguments and z ≤ 1.
 *
 * - −0.5 ≤ z ≤ 0.9: the Gauss series with a rigorous tail bound (see `gaussSeries`), so truncation
 *   error is below one ulp and the result is limited by rounding: ~1e-14 relative.
 * - z < −0.5: Pfaff's transformation (1−z)^−a ₂F₁(a, c−b; c; z/(z−1)) moves z into (1/3, 1).
 * - 0.9 < z < 1: the connection formula in 1−z (DLMF 15.8.4, Abramowitz & Stegun 15.3.6), whose two
 *   series converge like (1−z)ⁿ. Where it would lose more than ~4 digits — c−a−b within 1e-4 of an
 *   integer, or its terms cancelling by more than 1e4 — the direct series is summed instead, up to
 *   10⁷ terms, which reaches z ≈ 1 − 4e-6 even in the slowest (logarithmic) case.
 * - z = 1: Gauss's theorem Γ(c)Γ(c−a−b)/(Γ(c−a)Γ(c−b)) when c−a−b > 0, otherwise `Infinity`.
 * - a or b a non-positive integer: the series is a polynomial and is summed in full.
 *
 * Measured against 40-digit mpmath on 3,000 random cases (a up to 60, −1 ≤ b ≤ 5, c up to 80,
 * −10 ≤ z < 1): median relative error 2e-16 for |z| ≤ 0.9 and 3e-15 beyond it, worst 4e-11 (an
 * alternating series with a = 49 summing to 1e-3); on 2,000 cases shaped like the BG/NBD's (see
 * `expectedPurchases`, x up to 300, z up to 0.99999) worst 1e-12.
 *
 * @throws RangeError for z > 1 (the real branch cut) or c a non-positive integer.
 * @throws Error if a needed direct series does not converge within 10⁷ terms (z within ~4e-6 of 1
 *   and the connection formula unusable).
 */
export function hyp2f1(a: number, b: number, c: number, z: number): number {
  if ([a, b, c, z].some(isNaNumber)) return NaN;
  if (z > 1) throw new RangeError(`hyp2f1: z = ${z} > 1 is on the branch cut`);
  if (isNonPositiveInteger(c)) throw new RangeError(`hyp2f1: c = ${c} is a non-positive integer`);
  if (z === 0 || a === 0 || b === 0) return 1;
  if (isNonPositiveInteger(a) || isNonPositiveInteger(b)) return gaussSeries(a, b, c, z).sum;

  if (z < -0.5) return pow(1 - z, -a) * hyp2f1(a, c - b, c, z / (z - 1));
  if (z <= SERIES_MAX_Z) return gaussSeries(a, b, c, z).sum;

  const m = c - a - b;
  if (z === 1) return m > 0 ? gammaRatio([c, m], [c - a, c - b]) : Infinity;
  if (abs(m - round(m)) < NEAR_INTEGER) return gaussSeries(a, b, c, z).sum;

  const w = 1 - z;
  const first = gammaRatio([c, m], [c - a, c - b]);
  const second = gammaRatio([c, -m], [a, b]) * pow(w, m);
  const s1 = first === 0 ? { sum: 0, magnitude: 0 } : gaussSeries(a, b, 1 - m, w);
  const s2 = second === 0 ? { sum: 0, magnitude: 0 } : gaussSeries(c - a, c - b, 1 + m, w);
  const value = first * s1.sum + second * s2.sum;
  const magnitude = abs(first) * s1.magnitude + abs(second) * s2.magnitude;
  if (magnitude <= CANCELLATION_LIMIT * abs(value)) return value;
  return gaussSeries(a, b, c, z).sum;
}

// ---------------------------------------------------------------------------------------------
// Nelder–Mead
// ---------------------------------------------------------------------------------------------

interface MinimizeResult {
  x: number[];
  fx: number;
  iterations: number;
  converged: boolean;
}

/**
 * Nelder–Mead simplex search with the standard coefficients (reflect 1, expand 2, contract ½,
 * shrink ½; Lagarias et al. 1998). Stops when the simplex is within `xTol` of its best vertex in
 * every coordinate and the values within `fTol`·(1+|f|) of the best.
 */
function nelderMead(
  f: (x: number[]) => number,
  start: readonly number[],
  step: number,
  maxIterations: number,
  xTol: number,
  fTol: number,
): MinimizeResult {
  const n = start.length;
  const evalAt = (x: number[]) => {
    const v = f(x);
    return isNaNumber(v) ? Infinity : v;
  };
  const pts: number[][] = [start.slice()];
  for (let i = 0; i < n; i++) {
    const p = start.slice();
    p[i] += step;
    pts.push(p);
  }
  const vals = pts.map(evalAt);
  const order = pts.map((_, i) => i);

  // c + k·(x − c): with x the worst vertex and c the centroid, k = −1 reflects, −2 expands, −½
  // contracts outside and ½ inside; with c the best vertex, ½ shrinks.
  const combine = (c: number[], x: number[], k: number) => c.map((ci, j) => ci + k * (x[j] - ci));

  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    order.sort((i, j) => vals[i] - vals[j] || i - j);
    const best = order[0];
    const worst = order[n];
    const secondWorst = order[n - 1];

    let spread = 0;
    for (const i of order) for (let j = 0; j < n; j++) spread = max(spread, abs(pts[i][j] - pts[best][j]));
    if (spread <= xTol && vals[worst] - vals[best] <= fTol * (1 + abs(vals[best]))) {
      return { x: pts[best].slice(), fx: vals[best], iterations, converged: true };
    }

    const centroid = new Array<number>(n).fill(0);
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) centroid[j] += pts[order[k]][j] / n;

    const xr = combine(centroid, pts[worst], -1);
    const fr = evalAt(xr);
    if (fr < vals[best]) {
      const xe = combine(centroid, pts[worst], -2);
      const fe = evalAt(xe);
      if (fe < fr) [pts[worst], vals[worst]] = [xe, fe];
      else [pts[worst], vals[worst]] = [xr, fr];
      continue;
    }
    if (fr < vals[secondWorst]) {
      [pts[worst], vals[worst]] = [xr, fr];
      continue;
    }
    if (fr < vals[worst]) {
      const xc = combine(centroid, pts[worst], -0.5);
      const fc = evalAt(xc);
      if (fc <= fr) {
        [pts[worst], vals[worst]] = [xc, fc];
        continue;
      }
    } else {
      const xcc = combine(centroid, pts[worst], 0.5);
      const fcc = evalAt(xcc);
      if (fcc < vals[worst]) {
        [pts[worst], vals[worst]] = [xcc, fcc];
        continue;
      }
    }
    for (const i of order.slice(1)) {
      pts[i] = combine(pts[best], pts[i], 0.5);
      vals[i] = evalAt(pts[i]);
    }
  }
  order.sort((i, j) => vals[i] - vals[j] || i - j);
  return { x: pts[order[0]].slice(), fx: vals[order[0]], iterations, converged: false };
}

/**
 * Nelder–Mead restarted from its own answer until a restart no longer improves it: a simplex can
 * collapse onto a ridge short of the optimum, and a fresh full-size simplex is the usual cure.
 */
function minimize(f: (x: number[]) => number, start: readonly number[], opts: Required<FitOptions>): MinimizeResult {
  const xTol = opts.tolerance;
  const fTol = opts.tolerance * 1e-4;
  let iterations = 0;
  let current = nelderMead(f, start, 0.5, opts.maxIterations, xTol, fTol);
  iterations += current.iterations;
  for (let restart = 0; restart < opts.maxRestarts; restart++) {
    const next = nelderMead(f, current.x, 0.1, opts.maxIterations, xTol, fTol);
    iterations += next.iterations;
    const improved = current.fx - next.fx;
    if (next.fx <= current.fx) current = { ...next, iterations };
    // Judged on the value only: along a flat direction the position is pinned down only to
    // ~sqrt(rounding noise / curvature), far coarser than xTol.
    if (improved <= fTol * (1 + abs(next.fx))) {
      return { ...current, iterations, converged: next.converged };
    }
  }
  return { ...current, iterations, converged: false };
}

/** Options shared by the fitters. */
export interface FitOptions {
  /** Nelder–Mead iterations per (re)start. Default 5,000. */
  maxIterations?: number;
  /** Convergence tolerance on the log-parameters (the simplex size). Default 1e-9. */
  tolerance?: number;
  /** Restarts from the previous optimum before giving up on confirming it. Default 20. */
  maxRestarts?: number;
}

function withDefaults(opts: FitOptions | undefined): Required<FitOptions> {
  return {
    maxIterations: opts?.maxIterations ?? 5_000,
    tolerance: opts?.tolerance ?? 1e-9,
    maxRestarts: opts?.maxRestarts ?? 20,
  };
}

// Keeps exp(log-parameter) finite and the search out of regions where every term underflows.
const LOG_PARAM_LIMIT = 30;
const outOfRange = (v: readonly number[]) => v.some((x) => !(abs(x) <= LOG_PARAM_LIMIT));

// ---------------------------------------------------------------------------------------------
// BG/NBD
// ---------------------------------------------------------------------------------------------

/**
 * One customer's repeat-purchase history: `x` repeat purchases (purchases after the first), the last
 * of them `tx` after the first purchase, observed for `T` since the first purchase (0 ≤ tx ≤ T; tx
 * is ignored when x = 0). `count` (default 1) says how many customers share this exact history, so
 * callers can aggregate (`GROUP BY x, tx, T`) before fitting.
 */
export interface RepeatSummary {
  x: number;
  tx: number;
  T: number;
  count?: number;
}

/** BG/NBD parameters: purchase rate λ ~ gamma(r, alpha); dropout probability p ~ beta(a, b). */
export interface BgNbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/** Maximum-likelihood BG/NBD estimates and how the search went. */
export interface BgNbdFit extends BgNbdParams {
  /** Sample log-likelihood at the estimates (Σ count × ln L, Eq. 6). */
  logLikelihood: number;
  /** Nelder–Mead iterations over all restarts. */
  iterations: number;
  /** Whether the simplex met the tolerance and a restart confirmed the optimum. */
  converged: boolean;
  /** How many distinct (x, tx, T) histories the likelihood was evaluated over. */
  distinctRows: number;
}

/**
 * Distinct histories in column form, grouped by x. tx and T are also reduced to their distinct
 * values: per evaluation the likelihood then takes one log per distinct time, and the terms that
 * depend on x alone once per group, leaving one exp and one log1p per distinct history.
 */
interface BgNbdData {
  /** Histories of x = xs[g] are rows groupStart[g] … groupStart[g+1]−1. */
  groupStart: Int32Array;
  groupWeight: Float64Array;
  xs: Float64Array;
  weight: Float64Array;
  txIndex: Int32Array;
  TIndex: Int32Array;
  txs: Float64Array;
  Ts: Float64Array;
  rows: number;
  totalWeight: number;
  sumXw: number;
  sumTw: number;
}

function indexer() {
  const map = new Map<number, number>();
  const values: number[] = [];
  return {
    id(v: number): number {
      let i = map.get(v);
      if (i === undefined) {
        i = values.length;
        map.set(v, i);
        values.push(v);
      }
      return i;
    },
    values,
  };
}

// Distinct (tx, T) pairs are keyed as txId·2²⁶ + TId, exact in a double while both ids stay below
// 2²⁶ — i.e. for fewer than 67 million distinct values of each, far beyond what fits in memory here.
const PAIR_KEY = 2 ** 26;

function prepareBgNbd(rows: readonly RepeatSummary[]): BgNbdData {
  const xi = indexer();
  const txi = indexer();
  const Ti = indexer();
  // Per x: (tx, T) pair key → accumulated weight, in first-seen order.
  const groups: Map<number, number>[] = [];
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const { x, T } = row;
    const w = row.count ?? 1;
    const tx = x === 0 ? 0 : row.tx;
    if (!(isInteger(x) && x >= 0)) throw new RangeError(`row ${i}: x must be a non-negative integer, got ${x}`);
    if (!(isFiniteNumber(T) && T >= 0)) throw new RangeError(`row ${i}: T must be finite and ≥ 0, got ${T}`);
    if (!(isFiniteNumber(tx) && tx >= 0 && tx <= T)) throw new RangeError(`row ${i}: tx must lie in [0, T], got ${tx} (T = ${T})`);
    if (!(isFiniteNumber(w) && w >= 0)) throw new RangeError(`row ${i}: count must be finite and ≥ 0, got ${w}`);
    if (w === 0) continue;
    const g = xi.id(x);
    const group = (groups[g] ??= new Map());
    const key = txi.id(tx) * PAIR_KEY + Ti.id(T);
    group.set(key, (group.get(key) ?? 0) + w);
  }

  const distinct = groups.reduce((n, g) => n + g.size, 0);
  const weight = new Float64Array(distinct);
  const txIndex = new Int32Array(distinct);
  const TIndex = new Int32Array(distinct);
  const groupStart = new Int32Array(groups.length + 1);
  const groupWeight = new Float64Array(groups.length);
  let at = 0;
  groups.forEach((group, g) => {
    groupStart[g] = at;
    for (const [key, w] of group) {
      txIndex[at] = floor(key / PAIR_KEY);
      TIndex[at] = key % PAIR_KEY;
      weight[at] = w;
      groupWeight[g] += w;
      at++;
    }
  });
  groupStart[groups.length] = at;

  // Totals come from the merged rows, not the input, so that pre-aggregated input (same histories,
  // same order) yields bit-identical sums and therefore the identical search path and estimates.
  const xs = Float64Array.from(xi.values);
  const Ts = Float64Array.from(Ti.values);
  let totalWeight = 0;
  let sumXw = 0;
  let sumTw = 0;
  groupWeight.forEach((w, g) => {
    totalWeight += w;
    sumXw += w * xs[g];
  });
  weight.forEach((w, i) => (sumTw += w * Ts[TIndex[i]]));
  if (totalWeight === 0) throw new RangeError("fitBgNbd needs at least one row with a positive count");
  return {
    groupStart,
    groupWeight,
    xs,
    weight,
    txIndex,
    TIndex,
    txs: Float64Array.from(txi.values),
    Ts,
    rows: distinct,
    totalWeight,
    sumXw,
    sumTw,
  };
}

function bgNbdLL(p: BgNbdParams, d: BgNbdData): number {
  const { r, alpha, a, b } = p;
  const { groupStart, groupWeight, xs, weight, txIndex, TIndex } = d;
  const base = -lgamma(r) + r * log(alpha) + lgamma(a + b) - lgamma(b);
  const lnA = log(a);
  const lnAlphaTx = d.txs.map((tx) => log(alpha + tx));
  const lnAlphaT = d.Ts.map((T) => log(alpha + T));

  let ll = 0;
  for (let g = 0; g < xs.length; g++) {
    const x = xs[g];
    const rx = r + x;
    // ln A1 + ln A2 of the paper's Sec. 7 depend on x alone.
    ll += groupWeight[g] * (base + lgamma(rx) + lgamma(b + x) - lgamma(a + b + x));
    const end = groupStart[g + 1];
    if (x === 0) {
      for (let i = groupStart[g]; i < end; i++) ll -= weight[i] * rx * lnAlphaT[TIndex[i]];
      continue;
    }
    // ln(A3 + A4) = ln A3 + softplus(ln A4 − ln A3): "still alive at T" plus the odds of "dropped
    // out right after the purchase at tx", kept in logs because both terms underflow for heavy buyers.
    const lnDropout = lnA - log(b + x - 1);
    for (let i = groupStart[g]; i < end; i++) {
      const lnT = lnAlphaT[TIndex[i]];
      const odds = lnDropout + rx * (lnT - lnAlphaTx[txIndex[i]]);
      const softplus = odds > 0 ? odds + log1p(exp(-odds)) : log1p(exp(odds));
      ll += weight[i] * (softplus - rx * lnT);
    }
  }
  return ll;
}

function checkBgNbdParams(p: BgNbdParams): void {
  for (const k of ["r", "alpha", "a", "b"] as const) {
    if (!(isFiniteNumber(p[k]) && p[k] > 0)) throw new RangeError(`BG/NBD parameter ${k} must be finite and > 0, got ${p[k]}`);
  }
}

/**
 * The BG/NBD sample log-likelihood Σ count × ln L(r, α, a, b | x, tx, T) (Eq. 6 of Fader, Hardie &
 * Lee 2005), in logs and `lgamma` throughout. For x = 0 the dropout term is absent.
 */
export function bgNbdLogLikelihood(params: BgNbdParams, rows: readonly RepeatSummary[]): number {
  checkBgNbdParams(params);
  return bgNbdLL(params, prepareBgNbd(rows));
}

/**
 * Fit the BG/NBD model by maximum likelihood.
 *
 * Identical histories are merged first (and `count` is honoured), so the cost of each likelihood
 * evaluation grows with the number of distinct (x, tx, T) triples, not with the number of
 * customers; one log is taken per distinct tx and T value. The search is Nelder–Mead on
 * (ln r, ln α, ln a, ln b) from a data-driven start, restarted until the optimum is confirmed —
 * deterministic for the same input. The estimates are located to about 1e-6 relative: along the
 * likelihood's flattest direction (mostly b) rounding noise in the summed log-likelihood is as
 * large as the curvature there, so no likelihood-only search can do much better.
 *
 * @throws RangeError for a row outside the model's domain (x not a non-negative integer, tx
 *   outside [0, T], negative count) or when no row has a positive count.
 */
export function fitBgNbd(rows: readonly RepeatSummary[], opts?: FitOptions): BgNbdFit {
  const o = withDefaults(opts);
  const data = prepareBgNbd(rows);
  // Start where r/α matches the observed purchase rate, so α is on the caller's time scale.
  const rate = max(data.sumXw, 1e-3 * data.totalWeight) / max(data.sumTw, 1e-12);
  const start = [0, log(1 / rate), 0, 0];
  const negLL = (v: number[]) => {
    if (outOfRange(v)) return Infinity;
    const [r, alpha, a, b] = v.map(exp);
    return -bgNbdLL({ r, alpha, a, b }, data);
  };
  const best = minimize(negLL, start, o);
  const [r, alpha, a, b] = best.x.map(exp);
  return {
    r,
    alpha,
    a,
    b,
    logLikelihood: -best.fx,
    iterations: best.iterations,
    converged: best.converged,
    distinctRows: data.rows,
  };
}

/**
 * P(alive | x, tx, T): the probability that a customer with this history has not dropped out
 * (Fader, Hardie & Lee 2005, the ratio of the "alive" term of Eq. 6 to the whole; Fader & Hardie's
 * note http://www.brucehardie.com/notes/021/, as lifetimes' `conditional_probability_alive`).
 * Exactly 1 when x = 0, because in the BG/NBD dropout can only happen right after a repeat purchase.
 */
export function probabilityAlive(params: BgNbdParams, x: number, tx: number, T: number): number {
  checkBgNbdParams(params);
  checkTimes(0, x, tx, T);
  if (x === 0) return 1;
  const { r, alpha, a, b } = params;
  // Odds of "dropped out after tx" against "alive", in logs so heavy buyers don't overflow.
  const logOdds = log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + tx));
  return logOdds > 0 ? exp(-logOdds) / (1 + exp(-logOdds)) : 1 / (1 + exp(logOdds));
}

/**
 * (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)], z = t/(α+T+t): the
 * numerator of Eq. 10, which for x = 0, T = 0 is Eq. 9.
 *
 * Euler's transformation ₂F₁(A,B;C;z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z) turns the product into
 * (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z): neither the power nor the ₂F₁'s upper parameters
 * grow with x, so heavy buyers neither overflow the series nor lose digits to a huge ₂F₁ times a
 * tiny power. Undefined at a = 1 exactly.
 */
function expectedIfAlive(params: BgNbdParams, t: number, x: number, T: number): number {
  const { r, alpha, a, b } = params;
  if (t === 0) return 0;
  const z = t / (alpha + T + t);
  const f = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z);
  return ((a + b + x - 1) / (a - 1)) * (1 - pow(1 - z, a - 1) * f);
}

function checkTimes(t: number, x: number, tx: number, T: number): void {
  if (!(isFiniteNumber(t) && t >= 0)) throw new RangeError(`t must be finite and ≥ 0, got ${t}`);
  if (!(isInteger(x) && x >= 0)) throw new RangeError(`x must be a non-negative integer, got ${x}`);
  if (!(isFiniteNumber(T) && T >= 0)) throw new RangeError(`T must be finite and ≥ 0, got ${T}`);
  if (x > 0 && !(tx >= 0 && tx <= T)) throw new RangeError(`tx must lie in [0, T], got ${tx} (T = ${T})`);
}

/**
 * E[Y(t) | x, tx, T]: expected repeat purchases in the next `t` time units for a customer with
 * history (x, tx, T) (Eq. 10 of Fader, Hardie & Lee 2005). The ₂F₁ is evaluated by `hyp2f1`, after
 * Euler's transformation; see `hyp2f1` for its accuracy. The parameters must have a ≠ 1.
 */
export function expectedPurchases(params: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  checkBgNbdParams(params);
  checkTimes(t, x, tx, T);
  return expectedIfAlive(params, t, x, T) * probabilityAlive(params, x, tx, T);
}

/**
 * E[X(t)]: expected repeat purchases in the first `t` time units for a randomly chosen new customer
 * (Eq. 9 of Fader, Hardie & Lee 2005), via the same transformed ₂F₁ as `expectedPurchases`.
 * Grows without bound in t when a ≤ 1 (the mean of 1/p is then infinite).
 */
export function expectedPurchasesNew(params: BgNbdParams, t: number): number {
  checkBgNbdParams(params);
  checkTimes(t, 0, 0, 0);
  return expectedIfAlive(params, t, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Gamma-Gamma
// ---------------------------------------------------------------------------------------------

/**
 * One customer's spend history for the Gamma-Gamma model: `x` ≥ 1 transactions whose mean value is
 * `m` > 0 (in Fader & Hardie's CDNOW data, the repeat transactions only). `count` (default 1)
 * says how many customers share it.
 */
export interface SpendSummary {
  x: number;
  m: number;
  count?: number;
}

/** Gamma-Gamma parameters: each transaction ~ gamma(p, ν); ν ~ gamma(q, v) across customers. */
export interface GammaGammaParams {
  p: number;
  q: number;
  v: number;
}

/** Maximum-likelihood Gamma-Gamma estimates and how the search went. */
export interface GammaGammaFit extends GammaGammaParams {
  /** Sample log-likelihood at the estimates (Σ count × ln f, Fader & Hardie 2013 Eq. 1a). */
  logLikelihood: number;
  /** Nelder–Mead iterations over all restarts. */
  iterations: number;
  /** Whether the simplex met the tolerance and a restart confirmed the optimum. */
  converged: boolean;
}

interface GgData {
  rows: number;
  weight: Float64Array;
  xIndex: Int32Array;
  lnM: Float64Array;
  m: Float64Array;
  xs: Float64Array;
  lnXs: Float64Array;
  meanM: number;
}

function prepareGg(rows: readonly SpendSummary[]): GgData {
  const xi = indexer();
  const rowOf = new Map<string, number>();
  const weight: number[] = [];
  const xIdx: number[] = [];
  const ms: number[] = [];
  rows.forEach((row, i) => {
    const { x, m } = row;
    const w = row.count ?? 1;
    if (!(isInteger(x) && x >= 1)) {
      throw new RangeError(`row ${i}: x must be an integer ≥ 1 (leave out customers without repeat transactions), got ${x}`);
    }
    if (!(isFiniteNumber(m) && m > 0)) throw new RangeError(`row ${i}: m must be finite and > 0, got ${m}`);
    if (!(isFiniteNumber(w) && w >= 0)) throw new RangeError(`row ${i}: count must be finite and ≥ 0, got ${w}`);
    if (w === 0) return;
    const key = `${x},${m}`;
    let r = rowOf.get(key);
    if (r === undefined) {
      r = weight.length;
      rowOf.set(key, r);
      weight.push(0);
      xIdx.push(xi.id(x));
      ms.push(m);
    }
    weight[r] += w;
  });
  let total = 0;
  let sumM = 0;
  weight.forEach((w, i) => {
    total += w;
    sumM += w * ms[i];
  });
  if (total === 0) throw new RangeError("fitGammaGamma needs at least one row with a positive count");
  const xs = Float64Array.from(xi.values);
  return {
    rows: weight.length,
    weight: Float64Array.from(weight),
    xIndex: Int32Array.from(xIdx),
    m: Float64Array.from(ms),
    lnM: Float64Array.from(ms, log),
    xs,
    lnXs: xs.map(log),
    meanM: sumM / total,
  };
}

function ggLL(params: GammaGammaParams, d: GgData): number {
  const { p, q, v } = params;
  const base = -lgamma(q) + q * log(v);
  const nx = d.xs.length;
  const common = new Float64Array(nx);
  for (let k = 0; k < nx; k++) {
    const px = p * d.xs[k];
    common[k] = base + lgamma(px + q) - lgamma(px) + px * d.lnXs[k];
  }
  let ll = 0;
  for (let i = 0; i < d.rows; i++) {
    const k = d.xIndex[i];
    const x = d.xs[k];
    const px = p * x;
    ll += d.weight[i] * (common[k] + (px - 1) * d.lnM[i] - (px + q) * log(v + x * d.m[i]));
  }
  return ll;
}

function checkGgParams(p: GammaGammaParams): void {
  for (const k of ["p", "q", "v"] as const) {
    if (!(isFiniteNumber(p[k]) && p[k] > 0)) throw new RangeError(`Gamma-Gamma parameter ${k} must be finite and > 0, got ${p[k]}`);
  }
}

/**
 * The Gamma-Gamma sample log-likelihood: Σ count × ln f(m | p, q, v, x), where the density of the
 * mean of x transactions is Γ(px+q)/(Γ(px)Γ(q)) · v^q m^(px−1) x^(px) / (v + m x)^(px+q)
 * (Fader & Hardie 2013, Eq. 1a; the same function lifetimes' GammaGammaFitter maximises).
 */
export function gammaGammaLogLikelihood(params: GammaGammaParams, rows: readonly SpendSummary[]): number {
  checkGgParams(params);
  return ggLL(params, prepareGg(rows));
}

/**
 * Fit the Gamma-Gamma spend model by maximum likelihood (Nelder–Mead on ln p, ln q, ln v, with
 * restarts; identical (x, m) rows merged first).
 *
 * @throws RangeError for a row with x < 1 or m ≤ 0 — customers without repeat transactions carry
 *   no spend information in this model and must be left out by the caller.
 */
export function fitGammaGamma(rows: readonly SpendSummary[], opts?: FitOptions): GammaGammaFit {
  const o = withDefaults(opts);
  const data = prepareGg(rows);
  // p = 1, q = 2 puts the population mean p·v/(q−1) at v; start it at the observed mean.
  const start = [0, log(2), log(data.meanM)];
  const negLL = (v: number[]) => {
    if (outOfRange(v)) return Infinity;
    const [p, q, s] = v.map(exp);
    return -ggLL({ p, q, v: s }, data);
  };
  const best = minimize(negLL, start, o);
  const [p, q, v] = best.x.map(exp);
  return { p, q, v, logLikelihood: -best.fx, iterations: best.iterations, converged: best.converged };
}

/**
 * E[mean transaction value | x, m]: (p(v + x m)) / (p x + q − 1), a weighted average of the
 * customer's own mean m and the population mean p v/(q − 1) (Fader & Hardie 2013, Eq. 5). For x = 0
 * m is ignored and the population mean is returned — `Infinity` if q ≤ 1, where that mean does not
 * exist.
 */
export function expectedAverageValue(params: GammaGammaParams, x: number, m: number): number {
  checkGgParams(params);
  if (!(isFiniteNumber(x) && x >= 0)) throw new RangeError(`x must be finite and ≥ 0, got ${x}`);
  const { p, q, v } = params;
  if (x === 0) return q > 1 ? (p * v) / (q - 1) : Infinity;
  if (!(isFiniteNumber(m) && m >= 0)) throw new RangeError(`m must be finite and ≥ 0, got ${m}`);
  return (p * (v + x * m)) / (p * x + q - 1);
}

/** Undiscounted customer value over a horizon: expected orders × expected value per order. */
export function predictedClv(expectedOrders: number, expectedValue: number): number {
  return expectedOrders * expectedValue;
}
