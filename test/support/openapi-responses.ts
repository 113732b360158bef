import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Json = Record<string, unknown>;

/** Where the document's component schemas live for ajv: `#/components/schemas/X` becomes `$defs`. */
const COMPONENTS = 'https://mission-ledger.test/openapi-components';

/** `schema` with every `#/components/schemas/X` ref pointing into the {@link COMPONENTS} resource. */
function rebased(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebased);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string'
        ? value.replace(/^#\/components\/schemas\//, `${COMPONENTS}#/$defs/`)
        : rebased(value),
    ]),
  );
}

/**
 * Validates bodies against the response schemas an OpenAPI 3.1 document declares, with ajv's
 * draft 2020-12 validator in strict mode: a schema ajv cannot compile, or a `$ref` that does not
 * resolve, throws.
 */
export class ResponseValidator {
  private readonly ajv = new Ajv2020({ strict: true, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(private readonly document: Json) {
    const formats: Record<string, (value: string) => boolean> = {
      'date-time': (v) => !Number.isNaN(Date.parse(v)) && /T.*(Z|[+-]\d\d:\d\d)$/.test(v),
      uri: (v) => URL.canParse(v),
      uuid: (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
    };
    for (const [name, check] of Object.entries(formats)) this.ajv.addFormat(name, check);
    const components = (document.components as { schemas: Json }).schemas;
    this.ajv.addSchema({ $id: COMPONENTS, $defs: rebased(components) });
  }

  /** The component schema `name`, compiled (every one compiles: the test compiles them all). */
  component(name: string): ValidateFunction {
    return this.compile(`component ${name}`, { $ref: `${COMPONENTS}#/$defs/${name}` });
  }

  /**
   * The problems of `body` as the `status` answer of `method path` (a path template of the
   * document), against that response's `application/json` schema, or `default` when the status
   * is not listed. Empty when it is valid.
   */
  problems(method: string, path: string, status: number, body: unknown): string[] {
    const operation = ((this.document.paths as Json)[path] as Json | undefined)?.[method] as
      { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } | undefined;
    if (operation === undefined) return [`no operation ${method} ${path}`];
    const response = operation.responses[String(status)] ?? operation.responses.default;
    const schema = response?.content?.['application/json']?.schema;
    if (schema === undefined) return [`${method} ${path} declares no JSON ${status} answer`];
    const validate = this.compile(`${method} ${path} ${status}`, schema);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  }

  private compile(key: string, schema: unknown): ValidateFunction {
    let validate = this.compiled.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(rebased(schema) as Json);
      this.compiled.set(key, validate);
    }
    return validate;
  }
}
