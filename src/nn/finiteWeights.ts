// Non-finite weights (NaN, ±inf) found by tensor name: a diverged model is refused before it is
// checkpointed, saved as a run's model, or loaded for evaluation and generation.

/** A weight tensor holds NaN or ±inf. */
export class NonFiniteWeightsError extends Error {
  constructor(
    readonly tensor: string,
    readonly index: number,
    readonly value: number,
    where: string,
    advice: string,
  ) {
    super(`${where}: tensor "${tensor}" holds ${value} at element ${index}; ${advice}`);
    this.name = "NonFiniteWeightsError";
  }
}

/** The first non-finite element of named weights, or null when all are finite. */
export function findNonFinite(named: Iterable<readonly [string, ArrayLike<number>]>): { tensor: string; index: number; value: number } | null {
  for (const [tensor, a] of named) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v - v !== 0) return { tensor, index: i, value: v }; // NaN - NaN and inf - inf are NaN
    }
  }
  return null;
}

/** Throws {@link NonFiniteWeightsError} (naming `where` and the tensor) unless every weight is finite. */
export function assertFiniteWeights(named: Iterable<readonly [string, ArrayLike<number>]>, where: string, advice: string): void {
  const bad = findNonFinite(named);
  if (bad) throw new NonFiniteWeightsError(bad.tensor, bad.index, bad.value, where, advice);
}
