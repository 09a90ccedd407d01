// Learning-rate schedules: linear warmup, then cosine or linear decay to a floor.

export interface ScheduleConfig {
  /** Peak learning rate reached at the end of warmup. */
  maxLr: number;
  /** Final learning rate (the floor), e.g. maxLr / 10. */
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  decay: "cosine" | "linear" | "constant";
}

/** The learning rate at a 0-based step. */
export function learningRate(step: number, c: ScheduleConfig): number {
  if (c.warmupSteps > 0 && step < c.warmupSteps) return (c.maxLr * (step + 1)) / c.warmupSteps;
  if (c.decay === "constant" || step >= c.totalSteps) return c.decay === "constant" ? c.maxLr : c.minLr;
  const span = Math.max(1, c.totalSteps - c.warmupSteps);
  const progress = Math.min(1, (step - c.warmupSteps) / span);
  const factor = c.decay === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return c.minLr + (c.maxLr - c.minLr) * factor;
}
