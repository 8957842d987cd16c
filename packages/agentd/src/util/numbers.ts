/** The smallest of the values that are given, or undefined when none is (for limits where undefined means "none"). */
export function minDefined(...values: Array<number | undefined>): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
}
