/**
 * memory/fill.ts — setting a run of 8-byte words to one value, for the layers above.
 *
 * Owns: fillDoubles(), the loop the debug hooks paint and retire blocks with (calloc in
 * heap/families.ts zeroes with stores of its own written out: a switch for up to 8 doubles,
 * then eight an iteration; see there).
 * Must not: know about blocks or fill bytes; callers pick the range and the double.
 *
 * Four stores an iteration: V8 reloads a typed array's map, length and base on every iteration,
 * and once for all four stores in one. Kept small so that V8 inlines it into its callers. The
 * indexes are stepped `| 0` (a double index is below 2^29: no wrap): V8 then adds them without an
 * overflow check and its copy of the index (debug mode, compileall-head, 1563 -> 1546.5
 * instructions an event with allDoubles' loops alike, session 54).
 */

/** Set doubles i..e-1 of f64 to d (not a NaN: a NaN's bits may change when stored). */
export function fillDoubles(f64: Float64Array, i: number, e: number, d: number): void {
  for (; i + 4 <= e; i = (i + 4) | 0) {
    f64[i] = d;
    f64[(i + 1) | 0] = d;
    f64[(i + 2) | 0] = d;
    f64[(i + 3) | 0] = d;
  }
  for (; i < e; i = (i + 1) | 0) f64[i] = d;
}
