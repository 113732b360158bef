import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { z } from 'zod';

/**
 * A compiled check that accepts exactly the data a zod schema accepts, for stored data read back
 * in bulk (a rebuild validates a million events): zod's `safeParse` builds a copy of every value
 * and runs each check through generic code, which made it the largest single cost of a rebuild.
 *
 * It is the schema's own JSON Schema export (the one `npm run schemas` writes) compiled by ajv,
 * plus zod itself on the few sub-schemas JSON Schema cannot state (refinements such as the autonomy
 * window's order, URL checks), found by walking the zod schema. A schema holding anything the walk
 * does not know to be exactly representable gets no fast check at all: {@link fastCheck} returns
 * undefined and the caller uses zod. The check only says yes or no; when it says no, callers run
 * zod for the issues.
 *
 * Exactness rests on three things, each tested against zod (test/unit/fast-check.test.ts):
 * string lengths count code points, as both zod 4 and ajv do (a surrogate pair is one); patterns
 * compile without the `u` flag, as zod's do; objects are strict (`additionalProperties: false`), so
 * accepted data is zod's output value for value, and callers may use it as the parse result.
 */
export type FastCheck = (data: unknown) => boolean;

const ajv = new Ajv2020({
  strict: false,
  // Formats are not checked by ajv: the walk admits only formats whose export carries zod's own
  // regex as `pattern` (date-time, uuid); the rest are checked by zod.
  validateFormats: false,
  unicodeRegExp: false,
  allErrors: false,
});

/** A sub-schema the JSON Schema export cannot state, checked with zod at its path. */
interface Residual {
  path: readonly string[];
  schema: z.ZodType;
}

const compiled = new WeakMap<z.ZodType, FastCheck | null>();

/** The fast check of `schema`, or undefined when it cannot be exact. Compiled once per schema. */
export function fastCheck(schema: z.ZodType): FastCheck | undefined {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = build(schema);
    compiled.set(schema, check);
  }
  return check ?? undefined;
}

function build(schema: z.ZodType): FastCheck | null {
  const residuals: Residual[] = [];
  if (!representable(schema, [], residuals, true)) return null;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(z.toJSONSchema(schema, { target: 'draft-2020-12' }));
  } catch {
    return null;
  }
  return (data) => {
    if (!validate(data)) return false;
    for (const { path, schema: part } of residuals) {
      let value: unknown = data;
      for (const key of path) {
        value = (value as Record<string, unknown> | null | undefined)?.[key];
      }
      // An absent optional part was already accepted by the structure check.
      if (value === undefined) continue;
      if (!part.safeParse(value).success) return false;
    }
    return true;
  };
}

/** Checks each kind admits; anything else makes a schema not representable. */
const STRING_CHECKS = new Set(['min_length', 'max_length', 'length_equals']);
const NUMBER_CHECKS = new Set(['greater_than', 'less_than', 'multiple_of']);
const ARRAY_CHECKS = new Set(['min_length', 'max_length', 'length_equals']);
/** String formats whose export is zod's own regex as `pattern`. */
const PATTERN_FORMATS = new Set(['datetime', 'uuid', 'regex']);
/** Kinds JSON Schema states exactly, with no checks of their own. */
const PLAIN = new Set(['boolean', 'enum', 'literal', 'unknown', 'any', 'null']);

interface Def {
  type: string;
  format?: string;
  checks?: { _zod: { def: CheckDef } }[];
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  pattern?: RegExp;
}

interface CheckDef {
  check: string;
  format?: string;
  pattern?: RegExp;
}

const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * True when JSON Schema states `schema` exactly, collecting into `residuals` the sub-schemas it
 * cannot state but zod can check on their own: only under plain object properties (`direct`), so
 * each has one path.
 */
function representable(
  schema: z.ZodType,
  path: readonly string[],
  residuals: Residual[],
  direct: boolean,
): boolean {
  const def = defOf(schema);
  const residual = () => {
    if (!direct) return false;
    residuals.push({ path, schema });
    return true;
  };
  switch (def.type) {
    case 'object': {
      if (def.checks !== undefined && def.checks.length > 0) return residual();
      // Strict objects only: zod strips unknown keys of others, so its output would differ.
      if (def.catchall === undefined || defOf(def.catchall).type !== 'never') return false;
      return Object.entries(def.shape ?? {}).every(([key, value]) =>
        representable(value, [...path, key], residuals, direct),
      );
    }
    case 'string': {
      if (def.format !== undefined && !PATTERN_FORMATS.has(def.format)) return residual();
      // A refinement is code: JSON Schema cannot state it, so zod checks the whole string.
      if (def.checks?.some(({ _zod: { def: check } }) => check.check === 'custom')) {
        return residual();
      }
      if (def.pattern !== undefined && def.pattern.flags !== '') return false;
      return (def.checks ?? []).every(({ _zod: { def: check } }) => {
        if (STRING_CHECKS.has(check.check)) return true;
        if (check.check !== 'string_format') return false;
        if (check.format === undefined || !PATTERN_FORMATS.has(check.format)) return false;
        return check.pattern === undefined || check.pattern.flags === '';
      });
    }
    case 'number':
      return (def.checks ?? []).every(({ _zod: { def: check } }) => {
        if (NUMBER_CHECKS.has(check.check)) return true;
        // Exported as minimum/maximum of the safe range and `integer`.
        return check.check === 'number_format' && check.format === 'safeint';
      });
    case 'array':
      return (
        (def.checks ?? []).every(({ _zod: { def: check } }) => ARRAY_CHECKS.has(check.check)) &&
        def.element !== undefined &&
        representable(def.element, path, residuals, false)
      );
    case 'optional':
      return def.innerType !== undefined && representable(def.innerType, path, residuals, direct);
    case 'nullable':
      return def.innerType !== undefined && representable(def.innerType, path, residuals, false);
    case 'union':
      return (def.options ?? []).every((option) => representable(option, path, residuals, false));
    default:
      return PLAIN.has(def.type) && (def.checks ?? []).length === 0;
  }
}
