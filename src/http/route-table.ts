/** One route of the API: its OpenAPI path template and the methods it answers. */
export interface KnownRoute {
  /** The OpenAPI path, e.g. `/v1/missions/{id}/events`: what access log lines name. */
  template: string;
  /** Upper-case, as in an `Allow` header; HEAD wherever GET is (express answers it). */
  methods: readonly string[];
  pattern: RegExp;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * The routes of the API, from its OpenAPI document's `paths`: the document is the one list of
 * routes (a test checks every path in it is served), so 405s and access log lines follow it
 * without a second list to keep in step. A `{name}` segment matches one non-empty path segment.
 */
export class RouteTable {
  private readonly routes: KnownRoute[];

  /** `paths`: the `paths` object of an OpenAPI document (path template to operations). */
  constructor(paths: unknown) {
    if (typeof paths !== 'object' || paths === null) {
      throw new Error('the OpenAPI document has no paths');
    }
    this.routes = Object.entries(paths).map(([template, operations]: [string, unknown]) => {
      const methods = METHODS.filter(
        (m) => typeof operations === 'object' && operations !== null && m in operations,
      ).map((m) => m.toUpperCase());
      if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
      const source = template
        .split('/')
        .map((segment) =>
          /^\{[^}]+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/');
      // Express routes match case-insensitively and with a trailing slash; so does this.
      return { template, methods, pattern: new RegExp(`^${source}/?$`, 'i') };
    });
  }

  /** The route whose template matches `path` (a request's path, without its query), if any. */
  match(path: string): KnownRoute | undefined {
    return this.routes.find((route) => route.pattern.test(path));
  }
}
