/**
 * Property tests run on one fixed seed, so that every run of the suite sends the same inputs and a
 * failure can be replayed; the seed is printed at the start of each file that uses it.
 *
 *   LATCHKEY_PROPERTY_SEED=<integer>   replay another seed
 *   LATCHKEY_PROPERTY_SEED=random      a new random seed (printed) for exploratory runs
 *   LATCHKEY_PROPERTY_RUNS=<factor>    multiply every property's number of runs (longer runs)
 */
import fc from "fast-check";

const DEFAULT_SEED = 20261207;

function chooseSeed(): number {
  const raw = (process.env.LATCHKEY_PROPERTY_SEED ?? "").trim();
  if (raw === "") return DEFAULT_SEED;
  if (raw === "random") return Math.floor(Math.random() * 2 ** 31);
  if (!/^-?\d+$/.test(raw)) throw new Error(`LATCHKEY_PROPERTY_SEED must be an integer or "random", got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function chooseScale(): number {
  const raw = (process.env.LATCHKEY_PROPERTY_RUNS ?? "").trim();
  if (raw === "") return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0)
    throw new Error(`LATCHKEY_PROPERTY_RUNS must be a positive number, got ${JSON.stringify(raw)}`);
  return scale;
}

export const PROPERTY_SEED = chooseSeed();
const SCALE = chooseScale();

fc.configureGlobal({ seed: PROPERTY_SEED });
console.log(
  `# property tests: fast-check seed ${PROPERTY_SEED}${SCALE === 1 ? "" : `, runs ×${SCALE}`} (LATCHKEY_PROPERTY_SEED replays another)`,
);

/** A property's number of runs, scaled by LATCHKEY_PROPERTY_RUNS. */
export function runs(count: number): number {
  return Math.max(1, Math.round(count * SCALE));
}
