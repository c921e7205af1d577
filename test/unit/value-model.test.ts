import fs from "node:fs";
import path from "node:path";
import {
  bgNbdLogLikelihood,
  expectedAverageValue,
  expectedPurchases,
  expectedPurchasesNew,
  fitBgNbd,
  fitGammaGamma,
  hyp2f1,
  lgamma,
  predictedClv,
  probabilityAlive,
  type BgNbdParams,
  type RepeatSummary,
  type SpendSummary,
} from "../../src/modules/analytics/value-model";

/*
 * Reference values and where they are published (see test/fixtures/cdnow/README.md for the data):
 *
 * [paper]   Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way", Marketing Science
 *           24(2), Sec. 7: r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4. The same figures
 *           are the "as reported in Fader, Hardie, Lee (2005)" check of CLVTools
 *           (bachmannpatrick/CLVTools, tests/testthat/test_correctness_bgnbd.R) and lifetimes'
 *           test_params_out_is_close_to_Hardie_paper.
 * [lt-test] lifetimes tests/test_estimation.py at commit 4f2833f4518621343bb6983eb3e540c11f66ec6a,
 *           whose figures are taken from Hardie's Excel implementation of the BG/NBD
 *           (http://brucehardie.com/notes/004/) and Gamma-Gamma (http://brucehardie.com/notes/025/).
 * [lt-qs]   lifetimes docs/Quickstart.md at the same commit
 *           (https://lifetimes.readthedocs.io/en/latest/Quickstart.html).
 * [lt-2016] lifetimes README.md at commit f5d8750e47b8920745f19485b9979a3b3ed6f41b (2016-02-28), the
 *           earlier printing of the Quickstart's Gamma-Gamma example.
 */

/*
 * The CDNOW sample itself is third-party research data and is not kept in this repository: put the two CSV
 * files of test/fixtures/cdnow/README.md in that folder (or point CDNOW_DIR at them) to run the fits on it.
 * Without them, the tests below that need the data are skipped (and say so); those that check the model's
 * closed forms against figures published with their parameters, and the fits against simulated customers
 * of known parameters, always run.
 */
const fixtures = process.env.CDNOW_DIR ?? path.join(__dirname, "../fixtures/cdnow");
const haveData = fs.existsSync(path.join(fixtures, "cdnow_customers_summary.csv")) && fs.existsSync(path.join(fixtures, "cdnow_customers_summary_with_transactions.csv"));
const withData = haveData ? describe : describe.skip;
if (!haveData) console.warn(`value-model: CDNOW data not in ${fixtures}; the fits on it are skipped (see test/fixtures/cdnow/README.md)`);

function readCsv(file: string): number[][] {
  if (!haveData) return [];
  return fs
    .readFileSync(path.join(fixtures, file), "utf8")
    .split(/\r?\n/)
    .slice(1)
    .filter((line) => line.trim() !== "")
    .map((line) => line.split(",").map(Number));
}

// ID, frequency (x), recency (t_x), T — weeks.
const cdnow: RepeatSummary[] = readCsv("cdnow_customers_summary.csv").map(([, x, tx, T]) => ({ x, tx, T }));
// ID, x, t_x, T, zbar — zbar is the mean value of the repeat transactions.
const withValue = readCsv("cdnow_customers_summary_with_transactions.csv").map(([, x, tx, T, m]) => ({ x, tx, T, m }));
const repeaters: SpendSummary[] = withValue.filter((c) => c.x > 0).map(({ x, m }) => ({ x, m }));

/** |actual − expected| ≤ tolerance, with all three numbers in the failure message. */
function expectWithin(actual: number, expected: number, tolerance: number): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`expected ${actual} to be within ${tolerance} of ${expected} (off by ${Math.abs(actual - expected)})`);
  }
}

const paper: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

withData("CDNOW fixture", () => {
  it("holds the 2,357-customer, 39-week calibration sample the paper and lifetimes use", () => {
    expect(cdnow).toHaveLength(2357);
    expect(withValue).toHaveLength(2357);
    expect(repeaters).toHaveLength(946); // "fitted with 946 subjects" [lt-qs]
    expect(Math.max(...cdnow.map((c) => c.T))).toBe(38.86);
  });
});

describe("lgamma", () => {
  it("matches ln Γ at half-integers and is zero at 1 and 2", () => {
    expect(lgamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 14);
    expect(lgamma(1.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI) / 2), 14);
    expect(lgamma(-0.5)).toBeCloseTo(Math.log(2 * Math.sqrt(Math.PI)), 13);
    expect(lgamma(1)).toBeCloseTo(0, 14);
    expect(lgamma(2)).toBeCloseTo(0, 14);
  });

  it("equals ln((n−1)!) for integers up to 171", () => {
    let logFactorial = 0; // ln((n−1)!)
    for (let n = 1; n <= 171; n++) {
      if (n > 1) logFactorial += Math.log(n - 1);
      expect(Math.abs(lgamma(n) - logFactorial)).toBeLessThanOrEqual(1e-13 * Math.max(1, logFactorial));
    }
  });

  it("is infinite at the poles", () => {
    expect(lgamma(0)).toBe(Infinity);
    expect(lgamma(-3)).toBe(Infinity);
  });
});

describe("hyp2f1", () => {
  const close = (actual: number, expected: number, rel: number) =>
    expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected));

  it("gives −ln(1−z)/z for 2F1(1, 1; 2; z), on both sides of 0 and up to z = 0.999", () => {
    for (const z of [-5, -0.9, -0.3, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999]) close(hyp2f1(1, 1, 2, z), -Math.log1p(-z) / z, 1e-13);
  });

  it("gives (1−z)^−a for 2F1(a, b; b; z)", () => {
    for (const z of [-2, -0.4, 0.3, 0.8, 0.93, 0.99, 0.9999]) close(hyp2f1(0.7, 2.3, 2.3, z), Math.pow(1 - z, -0.7), 1e-12);
  });

  it("gives arcsin(x)/x for 2F1(½, ½; 3/2; x²), where near 1 both terms of the 1−z formula matter", () => {
    for (const x of [0.2, 0.9, 0.97, 0.995, 0.99999]) close(hyp2f1(0.5, 0.5, 1.5, x * x), Math.asin(x) / x, 1e-12);
  });

  it("gives sin((2a−1)θ)/((2a−1) sin θ) for 2F1(a, 1−a; 3/2; sin²θ)", () => {
    const a = 0.3;
    for (const theta of [0.4, 1.2, 1.3, 1.5]) {
      close(hyp2f1(a, 1 - a, 1.5, Math.sin(theta) ** 2), Math.sin((2 * a - 1) * theta) / ((2 * a - 1) * Math.sin(theta)), 1e-12);
    }
  });

  it("sums Gauss's value 4/π for 2F1(½, ½; 2; 1) and a terminating series exactly", () => {
    close(hyp2f1(0.5, 0.5, 2, 1), 4 / Math.PI, 1e-13);
    const [b, c, z] = [1.7, 2.9, 0.95];
    close(hyp2f1(-2, b, c, z), 1 - (2 * b * z) / c + (b * (b + 1) * z * z) / (c * (c + 1)), 1e-14);
  });

  it("refuses z > 1 and a non-positive integer c", () => {
    expect(() => hyp2f1(1, 1, 2, 1.5)).toThrow(RangeError);
    expect(() => hyp2f1(1, 1, -2, 0.5)).toThrow(RangeError);
  });
});

const lifetimesFit: BgNbdParams = { r: 0.242593, alpha: 4.413532, a: 0.792886, b: 2.425752 };
/** Hardie's spreadsheet: t (weeks) → E[X(t)] for a new customer [lt-test]. */
const HARDIE_NEW_CUSTOMER: [number, number][] = [
  [0.1429, 0.0078],
  [1.0, 0.0532],
  [3.0, 0.1506],
  [31.8571, 1.0405],
  [32.0, 1.0437],
];
/** The Quickstart's top five: frequency, recency, T, predicted purchases for t = 1 (customers 509, 841, 1981, 157, 1516) [lt-qs]. */
const QUICKSTART_TOP_FIVE: [number, number, number, number][] = [
  [18, 35.14, 35.86, 0.424877],
  [19, 34.0, 34.14, 0.474738],
  [17, 28.43, 28.86, 0.486526],
  [29, 37.71, 38.0, 0.662396],
  [26, 30.86, 31.0, 0.710623],
];

describe("BG/NBD at published parameters", () => {
  it("expects 1.226 purchases in the next 39 weeks from a customer with x = 2, t_x = 30.43, T = 38.86 [lt-test]", () => {
    expect(expectedPurchases(paper, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
    expect(expectedPurchases(lifetimesFit, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
  });

  it("reproduces Hardie's cumulative repeat purchases per new customer E[X(t)] [lt-test]", () => {
    for (const [t, value] of HARDIE_NEW_CUSTOMER) expect(expectedPurchasesNew(lifetimesFit, t)).toBeCloseTo(value, 4);
    // Published as 1.8576; the model gives 1.85797 here (a 2·10⁶-term direct sum agrees), so the
    // figure only holds to the 3 decimals lifetimes itself asserts.
    expect(expectedPurchasesNew(lifetimesFit, 78)).toBeCloseTo(1.8576, 3);
  });

  it("gives the Quickstart's top five customers their published next-week expectations [lt-qs]", () => {
    for (const [x, tx, T, value] of QUICKSTART_TOP_FIVE) expectWithin(expectedPurchases(lifetimesFit, 1, x, tx, T), value, 1e-6);
  });

  it("gives P(alive) = 1 without a repeat purchase, and a probability otherwise", () => {
    for (const T of [0, 1, 38.86, 500]) expect(probabilityAlive(paper, 0, 0, T)).toBe(1);
    for (let x = 1; x < 100; x += 7) {
      for (let tx = 0; tx < 100; tx += 10) {
        for (let T = tx; T < 100; T += 10) {
          const p = probabilityAlive(paper, x, tx, T);
          expect(p >= 0 && p <= 1).toBe(true);
        }
      }
    }
  });

  it("gives the same answers in days as in weeks once alpha is rescaled", () => {
    const days: BgNbdParams = { ...paper, alpha: paper.alpha * 7 };
    expect(probabilityAlive(days, 2, 30.43 * 7, 38.86 * 7)).toBeCloseTo(probabilityAlive(paper, 2, 30.43, 38.86), 12);
    expect(expectedPurchases(days, 39 * 7, 2, 30.43 * 7, 38.86 * 7)).toBeCloseTo(expectedPurchases(paper, 39, 2, 30.43, 38.86), 10);
  });

  it("rejects a history whose last purchase falls after the end of observation", () => {
    expect(() => fitBgNbd([{ x: 1, tx: 5, T: 4 }])).toThrow(RangeError);
    expect(() => fitBgNbd([{ x: -1, tx: 0, T: 4 }])).toThrow(RangeError);
  });
});

withData("BG/NBD on CDNOW", () => {
  const fit = haveData ? fitBgNbd(cdnow) : (undefined as never);

  it("recovers the paper's estimates r = 0.243, α = 4.414, a = 0.793, b = 2.426 and LL = −9582.4 [paper]", () => {
    expect(fit.converged).toBe(true);
    expect(fit.r).toBeCloseTo(0.243, 3);
    expect(fit.alpha).toBeCloseTo(4.414, 3);
    expect(fit.a).toBeCloseTo(0.793, 3);
    expect(fit.b).toBeCloseTo(2.426, 3);
    expect(fit.logLikelihood).toBeCloseTo(-9582.4, 1);
  });

  it("agrees with lifetimes' 6-decimal summary r 0.242593, alpha 4.413532, a 0.792886, b 2.425752 to 5 decimals [lt-qs]", () => {
    // To 5, not 6: along the likelihood's flattest direction (mostly b) rounding noise in the
    // summed log-likelihood pins the maximum down only to ~1e-6; optimisers' stopping points differ
    // there (CLVTools reports b = 2.4258881 for the same maximum).
    expectWithin(fit.r, 0.242593, 5e-6);
    expectWithin(fit.alpha, 4.413532, 5e-6);
    expectWithin(fit.a, 0.792886, 5e-6);
    expectWithin(fit.b, 2.425752, 5e-6);
  });

  it("evaluates the likelihood at the paper's rounded estimates to its reported −9582.4 [paper]", () => {
    expect(bgNbdLogLikelihood(paper, cdnow)).toBeCloseTo(-9582.4, 1);
  });

  it("expects 1.226 purchases in the next 39 weeks from a customer with x = 2, t_x = 30.43, T = 38.86 [lt-test]", () => {
    expect(expectedPurchases(paper, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
    expect(expectedPurchases(fit, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
  });

  it("reproduces Hardie's cumulative repeat purchases per new customer E[X(t)] [lt-test]", () => {
    for (const [t, value] of HARDIE_NEW_CUSTOMER) expect(expectedPurchasesNew(fit, t)).toBeCloseTo(value, 4);
    // Published as 1.8576; the model gives 1.85797 here (a 2·10⁶-term direct sum agrees), so the
    // figure only holds to the 3 decimals lifetimes itself asserts.
    expect(expectedPurchasesNew(fit, 78)).toBeCloseTo(1.8576, 3);
  });

  it("ranks the Quickstart's top five customers with their published next-week expectations [lt-qs]", () => {
    for (const [x, tx, T, value] of QUICKSTART_TOP_FIVE) {
      expectWithin(expectedPurchases(lifetimesFit, 1, x, tx, T), value, 1e-6);
      expectWithin(expectedPurchases(fit, 1, x, tx, T), value, 1e-6);
    }
  });

  it("gives P(alive) = 1 to every customer without a repeat purchase, and a probability otherwise", () => {
    const zero = cdnow.filter((c) => c.x === 0);
    expect(zero).toHaveLength(1411);
    for (const c of zero) expect(probabilityAlive(fit, c.x, c.tx, c.T)).toBe(1);
    for (let x = 1; x < 100; x += 7) {
      for (let tx = 0; tx < 100; tx += 10) {
        for (let T = tx; T < 100; T += 10) {
          const p = probabilityAlive(fit, x, tx, T);
          expect(p >= 0 && p <= 1).toBe(true);
        }
      }
    }
  });

  it("gives the same answers in days as in weeks once alpha is rescaled", () => {
    const days: BgNbdParams = { ...fit, alpha: fit.alpha * 7 };
    expect(probabilityAlive(days, 2, 30.43 * 7, 38.86 * 7)).toBeCloseTo(probabilityAlive(fit, 2, 30.43, 38.86), 12);
    expect(expectedPurchases(days, 39 * 7, 2, 30.43 * 7, 38.86 * 7)).toBeCloseTo(expectedPurchases(fit, 39, 2, 30.43, 38.86), 10);
    const refit = fitBgNbd(cdnow.map((c) => ({ x: c.x, tx: c.tx * 7, T: c.T * 7 })));
    expect(refit.alpha / 7).toBeCloseTo(fit.alpha, 4);
    expect(refit.r).toBeCloseTo(fit.r, 5);
  });

  it("fits counted histories exactly as it fits the customers they stand for", () => {
    const counted = new Map<string, RepeatSummary>();
    for (const c of cdnow) {
      const key = `${c.x}|${c.tx}|${c.T}`;
      const seen = counted.get(key);
      if (seen) seen.count = (seen.count ?? 1) + 1;
      else counted.set(key, { ...c, count: 1 });
    }
    const aggregated = fitBgNbd([...counted.values()]);
    expect(aggregated.distinctRows).toBe(fit.distinctRows);
    expect(counted.size).toBe(fit.distinctRows);
    expect(aggregated).toEqual(fit);
  });

  it("rejects a history whose last purchase falls after the end of observation", () => {
    expect(() => fitBgNbd([{ x: 1, tx: 5, T: 4 }])).toThrow(RangeError);
    expect(() => fitBgNbd([{ x: -1, tx: 0, T: 4 }])).toThrow(RangeError);
  });
});

withData("Gamma-Gamma on CDNOW", () => {
  const fit = haveData ? fitGammaGamma(repeaters) : (undefined as never);

  it("recovers p = 6.25, q = 3.74, v = 15.45 from the 946 repeat buyers [lt-qs]", () => {
    expect(fit.converged).toBe(true);
    expect(fit.p).toBeCloseTo(6.25, 2);
    expect(fit.q).toBeCloseTo(3.74, 2);
    expect(fit.v).toBeCloseTo(15.45, 2);
    // Hardie's spreadsheet has v = 15.44; lifetimes holds it to the same ±0.015 [lt-test].
    expectWithin(fit.v, 15.44, 0.015);
  });

  // Published to 6 decimals, asserted to 5: p and v trade off along a flat ridge of the likelihood,
  // where the maximum is only determined to ~1e-6 relative (see the BG/NBD note above).
  it("reproduces the conditional expected average profit of the first ten customers to 5 decimals [lt-2016]", () => {
    const published = [24.658616, 18.91148, 35.171003, 35.171003, 35.171003, 71.462851, 18.91148, 35.171003, 27.282408, 35.171003];
    withValue.slice(0, 10).forEach((c, i) => expectWithin(expectedAverageValue(fit, c.x, c.m), published[i], 5e-6));
    const mean = withValue.reduce((s, c) => s + expectedAverageValue(fit, c.x, c.m), 0) / withValue.length;
    expectWithin(mean, 35.2529588256, 5e-6); // "Expected conditional average profit", the same in [lt-qs]
  });

  it("stays within 1e-4 of the current Quickstart's reprint of the same figures [lt-qs]", () => {
    // Reprinted in 2017 after a change to lifetimes' optimiser moved them by up to 2.2e-5.
    const published = [24.658619, 18.911489, 35.170981, 35.170981, 35.170981, 71.462843, 18.911489, 35.170981, 27.282408, 35.170981];
    withValue.slice(0, 10).forEach((c, i) => expectWithin(expectedAverageValue(fit, c.x, c.m), published[i], 1e-4));
  });

  it("matches Hardie's spreadsheet to its two decimals for the same customers [lt-test]", () => {
    // 24.65 looks truncated rather than rounded (the model gives 24.6586), hence one unit of slack.
    const published = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17];
    withValue.slice(0, 10).forEach((c, i) => expectWithin(expectedAverageValue(fit, c.x, c.m), published[i], 0.01));
  });

  it("gives a customer without repeat purchases the population mean p·v/(q−1)", () => {
    expect(expectedAverageValue(fit, 0, NaN)).toBeCloseTo((fit.p * fit.v) / (fit.q - 1), 12);
    expect(expectedAverageValue({ p: 1, q: 0.5, v: 1 }, 0, 0)).toBe(Infinity);
  });

  it("rejects customers without repeat transactions, whose mean value is undefined", () => {
    expect(() => fitGammaGamma([{ x: 0, m: 10 }])).toThrow(RangeError);
    expect(() => fitGammaGamma([{ x: 2, m: 0 }])).toThrow(RangeError);
  });
});

describe("customer value", () => {
  it("multiplies expected orders by expected value per order", () => {
    expect(predictedClv(1.226, 24.66)).toBeCloseTo(30.23316, 10);
    expect(predictedClv(0, 35.17)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Simulated data
// ---------------------------------------------------------------------------------------------

/** mulberry32: a 32-bit seeded generator, enough for reproducible simulations. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function samplers(rand: () => number) {
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  // Marsaglia & Tsang (2000), with the u^(1/shape) boost for shape < 1.
  const gamma = (shape: number): number => {
    if (shape < 1) return gamma(shape + 1) * Math.pow(rand(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = rand();
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };
  const beta = (a: number, b: number) => {
    const x = gamma(a);
    return x / (x + gamma(b));
  };
  return { gamma, beta };
}

/** One BG/NBD customer observed for T: Poisson purchases at rate λ, dropping out after a repeat purchase with probability p. */
function simulateBgNbd(p: BgNbdParams, n: number, seed: number, T: () => number): RepeatSummary[] {
  const rand = seeded(seed);
  const { gamma, beta } = samplers(rand);
  const rows: RepeatSummary[] = [];
  for (let i = 0; i < n; i++) {
    const end = T();
    const lambda = gamma(p.r) / p.alpha;
    const drop = beta(p.a, p.b);
    let t = 0;
    let x = 0;
    let tx = 0;
    for (;;) {
      t += -Math.log(1 - rand()) / lambda;
      if (t > end) break;
      x++;
      tx = t;
      if (rand() < drop) break;
    }
    rows.push({ x, tx, T: end });
  }
  return rows;
}

describe("fitting simulated customers", () => {
  it("recovers the BG/NBD parameters that generated 10,000 customers", () => {
    const truth: BgNbdParams = { r: 0.5, alpha: 6, a: 0.7, b: 2.5 };
    const cohort = seeded(7);
    const fit = fitBgNbd(simulateBgNbd(truth, 10_000, 1, () => 52 + 52 * cohort()));
    expect(fit.converged).toBe(true);
    // a and b are the weakly identified dropout parameters, hence the looser bound.
    expectWithin(fit.r / truth.r, 1, 0.1);
    expectWithin(fit.alpha / truth.alpha, 1, 0.1);
    expectWithin(fit.a / truth.a, 1, 0.2);
    expectWithin(fit.b / truth.b, 1, 0.2);
  });

  it("recovers the Gamma-Gamma parameters that generated 20,000 spend histories", () => {
    const truth = { p: 6, q: 4, v: 15 };
    const rand = seeded(3);
    const { gamma } = samplers(rand);
    const rows: SpendSummary[] = [];
    for (let i = 0; i < 20_000; i++) {
      const nu = gamma(truth.q) / truth.v;
      const x = 1 + Math.floor(rand() * 10);
      // The sum of x gamma(p, ν) values is gamma(p·x, ν).
      rows.push({ x, m: gamma(truth.p * x) / (nu * x) });
    }
    const fit = fitGammaGamma(rows);
    expect(fit.converged).toBe(true);
    expectWithin(fit.p / truth.p, 1, 0.2);
    expectWithin(fit.q / truth.q, 1, 0.1);
    expectWithin(fit.v / truth.v, 1, 0.2);
    expectWithin((fit.p * fit.v) / (fit.q - 1) / ((truth.p * truth.v) / (truth.q - 1)), 1, 0.05);
  });

  it("collapses a million customers on a daily grid into their distinct histories before fitting", () => {
    const truth: BgNbdParams = { r: 0.243, alpha: 4.414 * 7, a: 0.793, b: 2.426 };
    const cohort = seeded(11);
    const base = simulateBgNbd(truth, 10_000, 5, () => 275 + Math.floor(91 * cohort())).map((c) => ({ ...c, tx: Math.floor(c.tx) }));
    const million: RepeatSummary[] = [];
    for (let k = 0; k < 100; k++) for (const c of base) million.push(c);

    const fit = fitBgNbd(million);
    const once = fitBgNbd(base);
    expect(million).toHaveLength(1_000_000);
    expect(fit.distinctRows).toBe(once.distinctRows);
    expect(fit.distinctRows).toBeLessThan(base.length);
    for (const k of ["r", "alpha", "a", "b"] as const) expectWithin(fit[k] / once[k], 1, 1e-5);
    expectWithin(fit.logLikelihood / once.logLikelihood, 100, 1e-6);
  });
});
